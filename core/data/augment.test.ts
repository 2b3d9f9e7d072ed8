import { describe, expect, it } from "vitest";
import {
  augmentBatch,
  CIFAR_AUGMENT,
  drawAugmentParams,
  normalizationTable,
  unitScale,
  writeTransformed,
} from "./augment.js";
import { loadEmbedded } from "./embedded.js";
import { Rng } from "./rng.js";
import { computeChannelStats } from "./stats.js";
import type { ImageShape } from "./types.js";

const shape: ImageShape = [32, 32, 3];
const SIZE = 32 * 32 * 3;

/** n random 32x32x3 images; pixels 1..255 so padding (0) is distinguishable. */
function randomImages(n: number, seed: number): Uint8Array {
  const r = Rng.from(seed);
  const out = new Uint8Array(n * SIZE);
  for (let i = 0; i < out.length; i++) out[i] = 1 + r.int(255);
  return out;
}

const unit = unitScale(3);
const at = (img: Uint8Array, i: number, y: number, x: number, c: number) =>
  img[i * SIZE + (y * 32 + x) * 3 + c] as number;

describe("augmentBatch", () => {
  const images = randomImages(64, 1);
  const indices = Array.from({ length: 64 }, (_, i) => i);

  it("returns N*h*w*c floats; without augmentation it is plain normalisation", () => {
    const out = augmentBatch(images, [3, 5], shape, unit, null, null);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(2 * SIZE);
    expect(out[0]).toBeCloseTo((images[3 * SIZE] as number) / 255, 6);
    expect(out[SIZE + 100]).toBeCloseTo((images[5 * SIZE + 100] as number) / 255, 6);
  });

  it("flip mirrors each row", () => {
    const out = augmentBatch(images, indices, shape, unit, Rng.from(2), {
      padding: 0,
      flipProbability: 1,
    });
    let bad = 0;
    for (let i = 0; i < 64; i++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          for (let c = 0; c < 3; c++) {
            const got = out[i * SIZE + (y * 32 + x) * 3 + c] as number;
            if (Math.abs(got - at(images, i, y, 31 - x, c) / 255) > 1e-6) bad++;
          }
        }
      }
    }
    expect(bad).toBe(0);
  });

  it("crops are shifts of at most 4 px, zero-filled, covering the whole range", () => {
    const n = 64;
    const out = augmentBatch(images, indices, shape, unit, Rng.from(3), {
      padding: 4,
      flipProbability: 0,
    });
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const matches: [number, number][] = [];
      for (let dy = -6; dy <= 6; dy++) {
        for (let dx = -6; dx <= 6; dx++) {
          let ok = true;
          for (let y = 0; y < 32 && ok; y++) {
            for (let x = 0; x < 32 && ok; x++) {
              for (let c = 0; c < 3 && ok; c++) {
                const sy = y + dy;
                const sx = x + dx;
                const want =
                  sy < 0 || sy > 31 || sx < 0 || sx > 31 ? 0 : at(images, i, sy, sx, c) / 255;
                ok = Math.abs((out[i * SIZE + (y * 32 + x) * 3 + c] as number) - want) < 1e-6;
              }
            }
          }
          if (ok) matches.push([dy, dx]);
        }
      }
      expect(matches).toHaveLength(1);
      const [dy, dx] = matches[0] as [number, number];
      expect(Math.abs(dy)).toBeLessThanOrEqual(4);
      expect(Math.abs(dx)).toBeLessThanOrEqual(4);
      seen.add(`${dy},${dx}`);
    }
    // Not stuck at one offset.
    expect(seen.size).toBeGreaterThan(20);
  });

  it("draws offsets over [-4, 4] uniformly and flips about half the images", () => {
    const p = drawAugmentParams(Rng.from(4), 20_000, CIFAR_AUGMENT);
    const counts = new Map<number, number>();
    for (const v of p.dy) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([-4, -3, -2, -1, 0, 1, 2, 3, 4]);
    for (const c of counts.values()) expect(Math.abs(c - 20_000 / 9)).toBeLessThan(200);
    const flips = p.flip.reduce((a, b) => a + b, 0);
    expect(Math.abs(flips / 20_000 - 0.5)).toBeLessThan(0.02);
  });

  it("is deterministic for a seed and differs for another", () => {
    const a = augmentBatch(images, indices, shape, unit, Rng.from(5));
    const b = augmentBatch(images, indices, shape, unit, Rng.from(5));
    const c = augmentBatch(images, indices, shape, unit, Rng.from(6));
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(c.buffer))).not.toBe(0);
  });

  it("pads with normalised black", () => {
    const norm = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.5] };
    const out = new Float32Array(SIZE);
    // Shift down-right by 4: the last 4 rows and columns come from the padding.
    writeTransformed(images, 0, shape, out, 0, 4, 4, false, normalizationTable(norm, 3));
    expect(out[(31 * 32 + 5) * 3 + 0]).toBeCloseTo(-0.5 / 0.2, 5);
    expect(out[(5 * 32 + 30) * 3 + 2]).toBeCloseTo(-0.3 / 0.5, 5);
    expect(out[(27 * 32 + 27) * 3 + 1]).toBeCloseTo(
      (at(images, 0, 31, 31, 1) / 255 - 0.4) / 0.25,
      5,
    );
    expect(out[0]).toBeCloseTo((at(images, 0, 4, 4, 0) / 255 - 0.5) / 0.2, 5);
  });

  it("rejects mismatched normalisation and missing rng", () => {
    expect(() => normalizationTable({ mean: [0], std: [1] }, 3)).toThrow(
      /1 means and 1 stds, the images have 3/,
    );
    expect(() => normalizationTable({ mean: [0], std: [0] }, 1)).toThrow(
      /std for channel 0 must be > 0/,
    );
    expect(() => augmentBatch(images, [0], shape, unit, null)).toThrow(/needs an Rng/);
  });
});

describe("normalisation", () => {
  function meanStd(x: Float32Array, c: number, channels: number): [number, number] {
    let s = 0;
    let s2 = 0;
    let n = 0;
    for (let i = c; i < x.length; i += channels) {
      const v = x[i] as number;
      s += v;
      s2 += v * v;
      n++;
    }
    const m = s / n;
    return [m, Math.sqrt(s2 / n - m * m)];
  }

  it("gives mean ~0, std ~1 on the (embedded Fashion-MNIST) training set", async () => {
    const ds = await loadEmbedded();
    const all = Array.from({ length: ds.train.count }, (_, i) => i);
    const x = augmentBatch(ds.train.images, all, ds.shape, ds.stats, null, null);
    const [m, s] = meanStd(x, 0, 1);
    expect(Math.abs(m)).toBeLessThan(1e-4);
    expect(Math.abs(s - 1)).toBeLessThan(1e-4);
    expect(ds.stats.mean[0]).toBeGreaterThan(0.2);
  });

  it("normalises each channel separately", () => {
    const r = Rng.from(9);
    const n = 200;
    const imgs = new Uint8Array(n * SIZE);
    for (let i = 0; i < imgs.length; i += 3) {
      imgs[i] = r.int(256); // wide
      imgs[i + 1] = 100 + r.int(20); // narrow
      imgs[i + 2] = 200 + r.int(56); // bright
    }
    const stats = computeChannelStats(imgs, shape);
    expect(stats.mean[1]).toBeCloseTo(109.5 / 255, 2);
    const x = augmentBatch(
      imgs,
      Array.from({ length: n }, (_, i) => i),
      shape,
      stats,
      null,
      null,
    );
    for (let c = 0; c < 3; c++) {
      const [m, s] = meanStd(x, c, 3);
      expect(Math.abs(m)).toBeLessThan(1e-4);
      expect(Math.abs(s - 1)).toBeLessThan(1e-4);
    }
  });
});
