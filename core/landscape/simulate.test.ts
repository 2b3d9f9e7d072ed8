import { describe, expect, it } from "vitest";
import { Rng } from "../data/rng.js";
import { parseSchedule } from "../schedule/index.js";
import { FUNCTIONS } from "./functions.js";
import { KERNELS, type KernelName } from "./kernels.js";
import { gradientNoise, planSimulation, runSgd } from "./simulate.js";

const KERNEL_LIST: KernelName[] = ["gaussian", "ball"];

function oneStep(lr: number, batch: number) {
  // One epoch of one iteration: N = batch.
  return parseSchedule({
    version: 1,
    epochs: 1,
    lr: { kind: "constant", lr },
    batch: { kind: "constant", size: batch },
  });
}

describe("simulated SGD", () => {
  it.each(KERNEL_LIST)("the gradient noise has variance C^2 / b times the kernel's (%s)", (k) => {
    const kernel = KERNELS[k];
    const c = 3;
    const n = 200_000;
    for (const b of [1, 16, 256]) {
      const rng = Rng.from(`noise/${k}/${b}`);
      const out = new Float64Array(2);
      let sx = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      let maxNorm = 0;
      for (let i = 0; i < n; i++) {
        gradientNoise(kernel, rng, c, b, out);
        const x = out[0] as number;
        const y = out[1] as number;
        sx += x;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
        maxNorm = Math.max(maxNorm, Math.hypot(x, y));
      }
      const perCoordinate = ((c * c) / b) * kernel.m2;
      // Gaussian: C^2 / b per coordinate; ball: E||xi||^2 = C^2 / (2b) <= C^2 / b.
      expect(perCoordinate).toBeCloseTo(k === "gaussian" ? (c * c) / b : (c * c) / (4 * b), 12);
      expect(sxx / n / perCoordinate).toBeCloseTo(1, 1.7);
      expect(syy / n / perCoordinate).toBeCloseTo(1, 1.7);
      expect(Math.abs(sxy / n) / perCoordinate).toBeLessThan(0.02);
      expect(Math.abs(sx / n) / Math.sqrt(perCoordinate)).toBeLessThan(0.02);
      if (k === "ball") expect(maxNorm).toBeLessThanOrEqual(c / Math.sqrt(b) + 1e-12);
    }
  });

  it.each(
    KERNEL_LIST,
  )("one SGD step moves by -alpha grad f plus noise of std delta per coordinate (%s)", (k) => {
    const kernel = KERNELS[k];
    const f = FUNCTIONS.rastrigin;
    const settings = { c: 50, lrScale: 0.04, datasetSize: 64 };
    const start: [number, number] = [0.3, -0.2];
    const g = new Float64Array(2);
    f.gradient(start[0], start[1], g);
    const variances: number[] = [];
    for (const batch of [16, 64]) {
      const plan = planSimulation(oneStep(0.1, batch), { ...settings, datasetSize: batch });
      expect(plan.stepSize).toHaveLength(1);
      const alpha = 0.04 * 0.1;
      const delta = (alpha * settings.c) / Math.sqrt(batch);
      // The compiled schedule reports the same delta.
      expect(plan.compiled.totals.deltaStart).toBeCloseTo(delta, 12);
      const meanX = start[0] - alpha * (g[0] as number);
      const meanY = start[1] - alpha * (g[1] as number);
      const n = 100_000;
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      const rng = Rng.from(`step/${k}/${batch}`);
      for (let i = 0; i < n; i++) {
        const [x, y] = runSgd(f, plan, kernel, rng, start);
        sx += x - meanX;
        sy += y - meanY;
        sxx += (x - meanX) ** 2;
      }
      expect(Math.abs(sx / n)).toBeLessThan(0.02 * delta);
      expect(Math.abs(sy / n)).toBeLessThan(0.02 * delta);
      expect(sxx / n / (delta * delta * kernel.m2)).toBeCloseTo(1, 1.7);
      variances.push(sxx / n);
    }
    // Four times the batch, a quarter of the variance.
    expect((variances[0] as number) / (variances[1] as number)).toBeCloseTo(4, 0.7);
  });

  it("maps epochs to iterations: ceil(N / b) per epoch, fewer when the batch grows", () => {
    const sched = parseSchedule({
      version: 1,
      epochs: 4,
      lr: { kind: "constant", lr: 0.1 },
      batch: { kind: "step", size: 128, factor: 2, every: 2 },
    });
    const plan = planSimulation(sched, { c: 10, lrScale: 1, datasetSize: 1000 });
    expect(Array.from(plan.epochStart)).toEqual([0, 8, 16, 20, 24]);
    expect(plan.noiseScale[0]).toBeCloseTo(10 / Math.sqrt(128), 12);
    expect(plan.noiseScale[20]).toBeCloseTo(10 / Math.sqrt(256), 12);
    expect(plan.compiled.epochs[2]?.delta).toBeCloseTo((0.1 * 10) / 16, 12);
  });

  it("records one point per epoch plus the end, and stays in the domain", () => {
    const f = FUNCTIONS["drop-wave"];
    const sched = parseSchedule({
      version: 1,
      epochs: 10,
      lr: { kind: "constant", lr: 0.1 },
      batch: { kind: "constant", size: 8 },
    });
    // Huge noise: every step would leave the domain without the projection.
    const plan = planSimulation(sched, { c: 1e4, lrScale: 1, datasetSize: 64 });
    const record = new Float64Array(2 * 11);
    const end = runSgd(f, plan, KERNELS.gaussian, Rng.from(1), [0.5, 0.5], record);
    expect(record[0]).toBe(0.5);
    expect(record[20]).toBe(end[0]);
    for (const v of record) {
      expect(v).toBeGreaterThanOrEqual(f.domain.lo);
      expect(v).toBeLessThanOrEqual(f.domain.hi);
    }
  });
});
