// The noise estimators on a problem where C is known exactly: linear regression
// y = w*.x + sigma * eps with x ~ N(0, I_d). The per-example gradient of
// 0.5 (w.x - y)^2 is g = (a.x) x - sigma eps x with a = w - w*, so
// G = E g = a and tr(Sigma) = E|g|^2 - |G|^2 = |a|^2 (d + 1) + sigma^2 d.
import { describe, expect, it } from "vitest";
import { Rng } from "../data/rng.js";
import { directNoiseEstimate, TwoBatchNoiseEstimator } from "./noise.js";

const d = 8;
const sigma = 0.5;

/** Mean gradient over a fresh batch of b examples at offset a = w - w*. */
function batchGradient(rng: Rng, a: number[], b: number): Float64Array {
  const g = new Float64Array(d);
  const x = new Float64Array(d);
  for (let n = 0; n < b; n++) {
    let ax = 0;
    for (let i = 0; i < d; i++) {
      x[i] = rng.normal();
      ax += (a[i] as number) * (x[i] as number);
    }
    const r = ax - sigma * rng.normal();
    for (let i = 0; i < d; i++) g[i] = (g[i] as number) + (r * (x[i] as number)) / b;
  }
  return g;
}

const normSq = (g: ArrayLike<number>) => Array.from(g).reduce((s, v) => s + v * v, 0);

describe.each([
  ["at the optimum", new Array(d).fill(0)],
  ["away from the optimum", Array.from({ length: d }, (_, i) => (i % 2 ? 0.3 : -0.2))],
])("noise level C for linear regression %s", (_name, a) => {
  const aSq = normSq(a);
  const trueC2 = aSq * (d + 1) + sigma * sigma * d;

  it("two-batch-size estimator (EMA of 6,000 observations) is within 5% of C^2 and |G|^2", () => {
    const rng = Rng.from(7);
    const est = new TwoBatchNoiseEstimator(0.9995);
    for (let k = 0; k < 6000; k++) {
      const big = batchGradient(rng, a, 64);
      const small = batchGradient(rng, a, 8);
      est.observe(8, normSq(small), 64, normSq(big));
    }
    expect(est.observations).toBe(6000);
    expect(Math.abs((est.traceSigma as number) / trueC2 - 1)).toBeLessThan(0.05);
    expect(est.c).toBeCloseTo(Math.sqrt(est.traceSigma as number), 12);
    // |G|^2 = |a|^2; at the optimum it must be near 0 relative to C^2 / 64.
    expect(Math.abs((est.gradNormSq as number) - aSq)).toBeLessThan((0.05 * trueC2) / 8);
  });

  it("direct estimator C^2 ~= b mean |g_B - g|^2 is within 5%", () => {
    const rng = Rng.from(11);
    const batches = Array.from({ length: 3000 }, () => batchGradient(rng, a, 16));
    const c = directNoiseEstimate(a, batches, 16);
    expect(Math.abs((c * c) / trueC2 - 1)).toBeLessThan(0.05);
    // Without the true gradient: g estimated by the mean of 8 batches, corrected for reusing them.
    const meanOf = (group: Float64Array[]) =>
      new Float64Array(d).map(
        (_, i) => group.reduce((s, g) => s + (g[i] as number), 0) / group.length,
      );
    const estimates = Array.from({ length: 300 }, (_, r) => {
      const group = batches.slice(r * 8, r * 8 + 8);
      return directNoiseEstimate(meanOf(group), group, 16, true) ** 2;
    });
    const avg = estimates.reduce((s, x) => s + x, 0) / estimates.length;
    expect(Math.abs(avg / trueC2 - 1)).toBeLessThan(0.05);
    const few = batches.slice(0, 8);
    expect(directNoiseEstimate(meanOf(few), few, 16, true)).toBeGreaterThan(
      directNoiseEstimate(meanOf(few), few, 16),
    );
  });
});

describe("TwoBatchNoiseEstimator", () => {
  it("has no estimate before observations and round-trips its state", () => {
    const e = new TwoBatchNoiseEstimator();
    expect(e.c).toBeUndefined();
    e.observe(4, 2, 16, 1);
    const copy = new TwoBatchNoiseEstimator();
    copy.setState(e.getState());
    expect(copy.traceSigma).toBe(e.traceSigma);
    expect(() => e.observe(16, 1, 4, 2)).toThrow(/bSmall < bBig/);
  });
});
