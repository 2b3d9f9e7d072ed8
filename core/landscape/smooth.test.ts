import { describe, expect, it } from "vitest";
import { Rng } from "../data/rng.js";
import { FUNCTIONS, type LandscapeFunctionName } from "./functions.js";
import { besselJ1, KERNELS, type KernelName } from "./kernels.js";
import { kernelSamples, smoothedGrid, smoothedMonteCarlo } from "./smooth.js";

const CLOSED: LandscapeFunctionName[] = ["rastrigin", "styblinski-tang", "himmelblau"];
const KERNEL_LIST: KernelName[] = ["gaussian", "ball"];

describe("the smoothed function f_delta", () => {
  it("Bessel J1 matches tabulated values", () => {
    // Abramowitz & Stegun table 9.1.
    expect(besselJ1(0)).toBeCloseTo(0, 14);
    expect(besselJ1(1)).toBeCloseTo(0.4400505857, 10);
    expect(besselJ1(2.5)).toBeCloseTo(0.4970941025, 10);
    expect(besselJ1(10)).toBeCloseTo(0.0434727462, 10);
    expect(besselJ1(-1)).toBeCloseTo(-0.4400505857, 10);
  });

  it("the kernels' moments and characteristic functions agree with sampling", () => {
    for (const k of KERNEL_LIST) {
      const kernel = KERNELS[k];
      const u = kernelSamples(kernel, 400_000, "moments");
      let m2 = 0;
      let m4 = 0;
      let cos = 0;
      let maxNorm = 0;
      const n = u.length / 2;
      for (let s = 0; s < n; s++) {
        const a = u[2 * s] as number;
        m2 += a * a;
        m4 += a ** 4;
        cos += Math.cos(2.5 * a);
        maxNorm = Math.max(maxNorm, Math.hypot(a, u[2 * s + 1] as number));
      }
      expect(m2 / n).toBeCloseTo(kernel.m2, 2);
      expect(m4 / n).toBeCloseTo(kernel.m4, 1);
      expect(cos / n).toBeCloseTo(kernel.charFn(2.5), 2);
      if (k === "ball") expect(maxNorm).toBeLessThanOrEqual(1);
    }
    // The Gaussian's closed form: exp(-2 pi^2 delta^2) damps Rastrigin's cosine.
    expect(KERNELS.gaussian.charFn(2 * Math.PI * 0.3)).toBeCloseTo(
      Math.exp(-2 * Math.PI ** 2 * 0.09),
      12,
    );
  });

  it("Gaussian smoothing of Rastrigin is the textbook closed form", () => {
    const f = FUNCTIONS.rastrigin;
    const sm = f.smoothed;
    if (!sm) throw new Error("Rastrigin has a closed form");
    for (const [x, y, d] of [
      [0, 0, 0.3],
      [1.2, -0.7, 0.5],
      [3, 2.5, 0.05],
    ] as const) {
      const textbook =
        20 +
        x * x +
        d * d -
        10 * Math.cos(2 * Math.PI * x) * Math.exp(-2 * Math.PI ** 2 * d * d) +
        y * y +
        d * d -
        10 * Math.cos(2 * Math.PI * y) * Math.exp(-2 * Math.PI ** 2 * d * d);
      expect(sm(x, y, d, KERNELS.gaussian)).toBeCloseTo(textbook, 12);
    }
  });

  describe.each(CLOSED)("%s", (name) => {
    const f = FUNCTIONS[name];
    it.each(KERNEL_LIST)("the closed form agrees with Monte Carlo (%s noise)", (k) => {
      const kernel = KERNELS[k];
      const sm = f.smoothed;
      if (!sm) throw new Error(`${name} has a closed form`);
      const samples = 200_000;
      const rng = Rng.from(`mc-points/${name}/${k}`);
      for (const delta of [0.1, 0.4, 1.5]) {
        const u = kernelSamples(kernel, samples, `${name}/${k}/${delta}`);
        for (let t = 0; t < 4; t++) {
          const x = rng.uniform(f.domain.lo, f.domain.hi);
          const y = rng.uniform(f.domain.lo, f.domain.hi);
          const mc = smoothedMonteCarlo(f, x, y, delta, u);
          // The Monte Carlo standard error, from the same draws.
          let ss = 0;
          for (let s = 0; s < samples; s++) {
            const v = f.value(
              x - delta * (u[2 * s] as number),
              y - delta * (u[2 * s + 1] as number),
            );
            ss += (v - mc) ** 2;
          }
          const se = Math.sqrt(ss / (samples - 1) / samples);
          const exact = sm(x, y, delta, kernel);
          expect(Math.abs(exact - mc)).toBeLessThan(5 * se + 1e-9);
        }
      }
    });

    it("at delta = 0 the closed form is f itself", () => {
      const sm = f.smoothed;
      if (!sm) throw new Error(`${name} has a closed form`);
      for (const k of KERNEL_LIST)
        expect(sm(1.3, -0.4, 0, KERNELS[k])).toBeCloseTo(f.value(1.3, -0.4), 12);
    });
  });

  it("grids: exact at delta 0, closed form where it exists, else Monte Carlo with the stated sample count", () => {
    const exact = smoothedGrid(FUNCTIONS.ackley, { size: 32, delta: 0, kernel: KERNELS.ball });
    expect(exact.method).toBe("exact");
    expect(exact.values).toHaveLength(32 * 32);
    expect(exact.values[0]).toBeCloseTo(FUNCTIONS.ackley.value(-5, -5), 12);
    expect(exact.values[32 * 32 - 1]).toBeCloseTo(FUNCTIONS.ackley.value(5, 5), 12);
    // Row 0 is the bottom: values[j * size + i] is at x_i, y_j.
    expect(exact.values[1 * 32 + 0]).toBeCloseTo(FUNCTIONS.ackley.value(-5, -5 + 10 / 31), 12);

    const closed = smoothedGrid(FUNCTIONS.rastrigin, {
      size: 16,
      delta: 0.3,
      kernel: KERNELS.gaussian,
    });
    expect(closed.method).toBe("closed-form");
    expect(closed.samples).toBeNull();

    const mc = smoothedGrid(FUNCTIONS["drop-wave"], {
      size: 16,
      delta: 0.3,
      kernel: KERNELS.ball,
      samples: 64,
    });
    expect(mc.method).toBe("monte-carlo");
    expect(mc.samples).toBe(64);
    // Common random numbers: the same call gives the same grid.
    const again = smoothedGrid(FUNCTIONS["drop-wave"], {
      size: 16,
      delta: 0.3,
      kernel: KERNELS.ball,
      samples: 64,
    });
    expect(Array.from(again.values)).toEqual(Array.from(mc.values));
    // Smoothing lifts Drop-Wave's sharp minimum.
    expect(
      smoothedGrid(FUNCTIONS["drop-wave"], { size: 9, delta: 0.5, kernel: KERNELS.ball }).min,
    ).toBeGreaterThan(-1);
  });

  it("a large delta smooths Rastrigin's local minima away (Gaussian)", () => {
    const f = FUNCTIONS.rastrigin;
    const sm = f.smoothed;
    if (!sm) throw new Error("closed form");
    // Along y = 0, f has a local minimum near x = 1; f_delta at delta = 0.5 is increasing in x > 0.
    let prev = sm(0, 0, 0.5, KERNELS.gaussian);
    for (let x = 0.05; x < 5; x += 0.05) {
      const v = sm(x, 0, 0.5, KERNELS.gaussian);
      expect(v).toBeGreaterThan(prev);
      prev = v;
    }
    expect(f.value(1, 0)).toBeLessThan(f.value(0.5, 0));
  });
});
