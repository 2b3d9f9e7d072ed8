import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeDatasetFile,
  encodeDatasetFile,
  payloadSha256,
  readDatasetFile,
} from "./dataset-file.js";
import {
  buildEmbeddedSubset,
  EMBEDDED_ASSET_NAME,
  EMBEDDED_PAYLOAD_SHA256,
  findEmbeddedAsset,
  loadEmbedded,
  selectFirstPerClass,
} from "./embedded.js";
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_SYSTEM_DIR,
  loadFashionMnist,
} from "./fashion-mnist.js";
import type { Dataset } from "./types.js";

function histogram(labels: Uint8Array, n: number): number[] {
  const h = new Array<number>(n).fill(0);
  for (const l of labels) h[l] = (h[l] as number) + 1;
  return h;
}

const tmp = mkdtempSync(join(tmpdir(), "sgd-embedded-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("embedded default dataset", () => {
  let ds: Dataset;
  beforeAll(async () => {
    ds = await loadEmbedded();
  });

  it("is shipped in assets/ and stays under 6 MB", () => {
    const file = findEmbeddedAsset();
    expect(file).toMatch(new RegExp(`assets/${EMBEDDED_ASSET_NAME.replace(/\./g, "\\.")}$`));
    expect(readFileSync(file as string).length).toBeLessThan(6_000_000);
  });

  it("holds 1,000 train and 200 test images per class", () => {
    expect(ds.train.count).toBe(10_000);
    expect(ds.test.count).toBe(2_000);
    expect(ds.train.images.length).toBe(10_000 * 784);
    expect(ds.shape).toEqual([28, 28, 1]);
    expect(ds.classes).toEqual([...FASHION_MNIST_CLASSES]);
    expect(histogram(ds.train.labels, 10)).toEqual(new Array(10).fill(1000));
    expect(histogram(ds.test.labels, 10)).toEqual(new Array(10).fill(200));
    expect(ds.source.kind).toBe("embedded");
    expect(ds.source.description).toMatch(/Fashion-MNIST.*MIT/);
  });

  it("keeps file order (same first labels as the full files)", () => {
    expect([...ds.train.labels.subarray(0, 10)]).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect([...ds.test.labels.subarray(0, 10)]).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  });

  it.skipIf(!existsSync(join(FASHION_MNIST_SYSTEM_DIR, "train-images-idx3-ubyte.gz")))(
    "matches what the generator builds from the Debian files",
    async () => {
      const subset = buildEmbeddedSubset(await loadFashionMnist());
      expect(payloadSha256(subset)).toBe(payloadSha256(ds));
      expect(Buffer.compare(subset.train.images, ds.train.images)).toBe(0);
      expect(Buffer.compare(subset.test.labels, ds.test.labels)).toBe(0);
      expect(subset.name).toBe(ds.name);
      expect(subset.description).toBe(ds.source.description);
    },
  );
});

describe("dataset file format", () => {
  const small = {
    name: "tiny",
    classes: ["a", "b", "c"],
    shape: [2, 2, 1] as const,
    train: {
      images: Uint8Array.from({ length: 12 }, (_, i) => i * 20),
      labels: Uint8Array.from([0, 2, 1]),
      count: 3,
    },
    test: { images: Uint8Array.from([1, 2, 3, 4]), labels: Uint8Array.from([1]), count: 1 },
    description: "test data",
  };

  it("round-trips", async () => {
    const ds = await decodeDatasetFile(encodeDatasetFile(small), "tiny.sgdds.gz");
    expect(ds.train.images).toEqual(small.train.images);
    expect(ds.test.labels).toEqual(small.test.labels);
    expect(ds.classes).toEqual(small.classes);
    expect(ds.shape).toEqual([2, 2, 1]);
    expect(ds.stats.mean[0]).toBeCloseTo(110 / 255, 6);
  });

  it("is deterministic", () => {
    expect(encodeDatasetFile(small).equals(encodeDatasetFile(small))).toBe(true);
  });

  it("detects a corrupted payload by its checksum", async () => {
    const raw = gunzipSync(encodeDatasetFile(small));
    raw[raw.length - 3] = (raw[raw.length - 3] as number) ^ 1;
    const file = join(tmp, "bad.sgdds.gz");
    writeFileSync(file, gzipSync(raw));
    await expect(readDatasetFile(file)).rejects.toThrow(
      new RegExp(
        `${file}: checksum mismatch: header says payload SHA-256 [0-9a-f]{64}, found [0-9a-f]{64}`,
      ),
    );
  });

  it("detects truncation, both of the gzip stream and of the payload", async () => {
    const gz = encodeDatasetFile(small);
    await expect(decodeDatasetFile(gz.subarray(0, gz.length - 12), "f")).rejects.toThrow(
      /f: gzip data is truncated or corrupt/,
    );
    const raw = gunzipSync(gz);
    await expect(decodeDatasetFile(raw.subarray(0, raw.length - 1), "f")).rejects.toThrow(
      /f: truncated: expected \d+ bytes \(header says 3 train \+ 1 test images of 2x2x1\), found/,
    );
  });

  it("rejects other files and out-of-range labels", async () => {
    await expect(decodeDatasetFile(Buffer.from("not a dataset"), "x")).rejects.toThrow(
      /x: not an SGD Studio dataset file: expected magic "SGDDATA1"/,
    );
    const bad = { ...small, train: { ...small.train, labels: Uint8Array.from([0, 3, 1]) } };
    await expect(decodeDatasetFile(encodeDatasetFile(bad), "y")).rejects.toThrow(
      /y \(train labels\): label 3 at index 1 is out of range: expected 0\.\.2/,
    );
  });
});

describe("embedded asset pin", () => {
  it("refuses a valid dataset file that is not the pinned subset", async () => {
    const other = {
      name: "x",
      classes: ["a"],
      shape: [1, 1, 1] as const,
      train: { images: Uint8Array.from([1]), labels: Uint8Array.from([0]), count: 1 },
      test: { images: Uint8Array.from([2]), labels: Uint8Array.from([0]), count: 1 },
      description: "",
    };
    const dir = join(tmp, "assets");
    mkdirSync(dir);
    writeFileSync(join(dir, EMBEDDED_ASSET_NAME), encodeDatasetFile(other));
    const saved = process.env.SGD_STUDIO_ASSETS_DIR;
    process.env.SGD_STUDIO_ASSETS_DIR = dir;
    try {
      await expect(loadEmbedded()).rejects.toThrow(
        new RegExp(
          `not the expected embedded dataset: payload SHA-256 is [0-9a-f]{64}, expected ${EMBEDDED_PAYLOAD_SHA256}`,
        ),
      );
    } finally {
      if (saved === undefined) delete process.env.SGD_STUDIO_ASSETS_DIR;
      else process.env.SGD_STUDIO_ASSETS_DIR = saved;
    }
  });
});

describe("selectFirstPerClass", () => {
  it("takes the first k of each class in order and fails when a class is short", () => {
    const split = {
      images: Uint8Array.from([10, 11, 12, 13, 14, 15]),
      labels: Uint8Array.from([1, 0, 1, 1, 0, 0]),
      count: 6,
    };
    const s = selectFirstPerClass(split, [1, 1, 1], 2, 2);
    expect([...s.images]).toEqual([10, 11, 12, 14]);
    expect([...s.labels]).toEqual([1, 0, 1, 0]);
    expect(() => selectFirstPerClass(split, [1, 1, 1], 3, 1)).toThrow(
      /class 2 has only 0 images, 1 are needed/,
    );
  });
});
