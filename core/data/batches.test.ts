import { describe, expect, it } from "vitest";
import { CIFAR_AUGMENT } from "./augment.js";
import { batchesPerEpoch, datasetBatches, epochBatches, epochRng } from "./batches.js";
import { Rng } from "./rng.js";
import { computeChannelStats } from "./stats.js";
import type { Dataset, ImageShape, Split } from "./types.js";

const shape: ImageShape = [4, 4, 3];
const SIZE = 48;

function makeSplit(n: number): Split {
  const images = new Uint8Array(n * SIZE);
  for (let i = 0; i < n; i++) images.fill(i % 256, i * SIZE, (i + 1) * SIZE);
  return { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 10), count: n };
}
const split = makeSplit(103);
const collect = (it: Iterable<{ indices: Uint32Array }>) => [...it].flatMap((b) => [...b.indices]);

describe("epochBatches", () => {
  it("yields a final partial batch unless dropLast", () => {
    const sizes = [
      ...epochBatches(split, { shape, batchSize: 10, rng: Rng.from(1), normalize: "unit" }),
    ].map((b) => b.size);
    expect(sizes).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    const dropped = [
      ...epochBatches(split, {
        shape,
        batchSize: 10,
        rng: Rng.from(1),
        normalize: "unit",
        dropLast: true,
      }),
    ];
    expect(dropped.map((b) => b.size)).toEqual(new Array(10).fill(10));
    expect(batchesPerEpoch(103, 10)).toBe(11);
    expect(batchesPerEpoch(103, 10, true)).toBe(10);
  });

  it("visits every image exactly once, with its label and pixels", () => {
    const batches = [
      ...epochBatches(split, { shape, batchSize: 16, rng: Rng.from(2), normalize: "unit" }),
    ];
    const seen = batches.flatMap((b) => [...b.indices]);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect(seen).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
    for (const b of batches) {
      expect(b.images.length).toBe(b.size * SIZE);
      expect(b.labels).toBeInstanceOf(Int32Array);
      b.indices.forEach((idx, k) => {
        expect(b.labels[k]).toBe(idx % 10);
        expect(b.images[k * SIZE + 7]).toBeCloseTo((idx % 256) / 255, 6);
      });
    }
  });

  it("shuffles deterministically per seed and differently per epoch", () => {
    const root = Rng.from("run");
    const order = (epoch: number) =>
      collect(
        epochBatches(split, { shape, batchSize: 8, rng: epochRng(root, epoch), normalize: "unit" }),
      );
    expect(order(0)).toEqual(order(0));
    expect(order(0)).not.toEqual(order(1));
    const other = collect(
      epochBatches(split, {
        shape,
        batchSize: 8,
        rng: epochRng(Rng.from("other"), 0),
        normalize: "unit",
      }),
    );
    expect(other).not.toEqual(order(0));
  });

  it("keeps file order when shuffle is off", () => {
    expect(
      collect(epochBatches(split, { shape, batchSize: 50, shuffle: false, normalize: "unit" })),
    ).toEqual(Array.from({ length: 103 }, (_, i) => i));
  });

  it("resumes mid-epoch identically, augmentation included", () => {
    const opts = { shape, batchSize: 10, normalize: "unit" as const, augment: CIFAR_AUGMENT };
    const full = [...epochBatches(split, { ...opts, rng: Rng.from(7) })];
    const tail = [...epochBatches(split, { ...opts, rng: Rng.from(7), startBatch: 4 })];
    expect(tail.map((b) => b.index)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    tail.forEach((b, k) => {
      const f = full[k + 4];
      expect(b.indices).toEqual(f?.indices);
      expect(
        Buffer.compare(
          Buffer.from(b.images.buffer),
          Buffer.from((f?.images as Float32Array).buffer),
        ),
      ).toBe(0);
    });
  });

  it("explains a batch larger than the dataset, eagerly", () => {
    expect(() =>
      epochBatches(split, { shape, batchSize: 128, rng: Rng.from(1), normalize: "unit" }),
    ).toThrow(
      "batch size 128 is larger than the dataset split (103 images); use a batch size of at most 103, or a larger dataset",
    );
    expect(() =>
      epochBatches(split, { shape, batchSize: 0, rng: Rng.from(1), normalize: "unit" }),
    ).toThrow(/positive integer/);
    expect(() => epochBatches(split, { shape, batchSize: 4, normalize: "unit" })).toThrow(
      /need an rng/,
    );
    expect(() =>
      epochBatches(split, { shape: [4, 4, 1], batchSize: 4, shuffle: false, normalize: "unit" }),
    ).toThrow(/split is inconsistent/);
  });

  it("datasetBatches normalises with the dataset's training statistics", () => {
    const ds: Dataset = {
      name: "t",
      train: split,
      test: makeSplit(5),
      classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
      shape,
      source: { kind: "memory", path: "", description: "" },
      stats: computeChannelStats(split.images, shape),
    };
    const [b] = [...datasetBatches(ds, "train", { batchSize: 103, rng: Rng.from(1) })];
    let s = 0;
    let s2 = 0;
    for (const v of b?.images ?? []) {
      s += v;
      s2 += v * v;
    }
    const n = 103 * SIZE;
    expect(Math.abs(s / n)).toBeLessThan(1e-4);
    expect(Math.sqrt(s2 / n - (s / n) ** 2)).toBeCloseTo(1, 3);
    const test = [
      ...datasetBatches(ds, "test", { batchSize: 5, shuffle: false, normalize: "unit" }),
    ];
    expect(test[0]?.images[0]).toBe(0);
  });
});
