import { describe, expect, it } from "vitest";
import { clampWeight, emaDebiased } from "./smoothing";

describe("EMA with debiasing (TensorBoard's smoothing)", () => {
  it("matches s_n / (1 - w^n) computed by hand", () => {
    const w = 0.6;
    const y = [1, 2, 3, 10];
    let s = 0;
    const expected = y.map((v, i) => {
      s = w * s + (1 - w) * v;
      return s / (1 - w ** (i + 1));
    });
    const got = emaDebiased(y, w);
    got.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i] as number, 12);
    });
    // The first point is the first value, not pulled towards zero.
    expect(got[0]).toBeCloseTo(1, 12);
  });

  it("keeps a constant series constant and weight 0 returns the values", () => {
    expect(emaDebiased([5, 5, 5, 5], 0.9).every((v) => Math.abs(v - 5) < 1e-12)).toBe(true);
    expect(emaDebiased([1, 4, 2], 0)).toEqual([1, 4, 2]);
  });

  it("passes gaps through without advancing the average", () => {
    const got = emaDebiased([1, Number.NaN, 3], 0.5);
    expect(got[1]).toBeNaN();
    // Second finite point: s = 0.5*0.5 + 0.5*3 = 1.75, debias 1 - 0.25 = 0.75.
    expect(got[2]).toBeCloseTo(1.75 / 0.75, 12);
  });

  it("clamps the weight to [0, 0.999]", () => {
    expect(clampWeight(-1)).toBe(0);
    expect(clampWeight(Number.NaN)).toBe(0);
    expect(clampWeight(1)).toBe(0.999);
    expect(emaDebiased([1, 2], 1).every(Number.isFinite)).toBe(true);
  });

  it("smooths 80,000 points in a few milliseconds", () => {
    const y = Array.from({ length: 80_000 }, (_, i) => Math.sin(i));
    const t0 = performance.now();
    emaDebiased(y, 0.9);
    expect(performance.now() - t0).toBeLessThan(200);
  });
});
