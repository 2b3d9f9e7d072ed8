import { describe, expect, it } from "vitest";
import { Rng } from "../data/rng.js";
import { distanceToMinimum, FUNCTION_NAMES, FUNCTIONS, functionOf } from "./functions.js";

/** Published global minima (Surjanovic & Bingham, Virtual Library of Simulation Experiments). */
const PUBLISHED: Record<string, { value: number; at: [number, number][] }> = {
  rastrigin: { value: 0, at: [[0, 0]] },
  "drop-wave": { value: -1, at: [[0, 0]] },
  ackley: { value: 0, at: [[0, 0]] },
  "styblinski-tang": { value: -39.16617 * 2, at: [[-2.903534, -2.903534]] },
  himmelblau: {
    value: 0,
    at: [
      [3, 2],
      [-2.805118, 3.131312],
      [-3.77931, -3.283186],
      [3.584428, -1.848126],
    ],
  },
};

describe("test functions", () => {
  it.each(
    FUNCTION_NAMES,
  )("%s: the global minimum value and location are the published ones", (name) => {
    const f = FUNCTIONS[name];
    const pub = PUBLISHED[name] as { value: number; at: [number, number][] };
    expect(f.minValue).toBeCloseTo(pub.value, 4);
    expect(f.minima).toHaveLength(pub.at.length);
    for (const [i, [x, y]] of pub.at.entries()) {
      const m = f.minima[i] as readonly [number, number];
      expect(m[0]).toBeCloseTo(x, 5);
      expect(m[1]).toBeCloseTo(y, 5);
      expect(f.value(m[0], m[1])).toBeCloseTo(pub.value, 4);
      // Inside the domain that is shown and sampled.
      expect(Math.abs(m[0])).toBeLessThanOrEqual(f.domain.hi);
      expect(Math.abs(m[1])).toBeLessThanOrEqual(f.domain.hi);
    }
  });

  it.each(FUNCTION_NAMES)("%s: nothing on a fine grid of the domain is lower than f*", (name) => {
    const f = FUNCTIONS[name];
    const n = 801;
    const { lo, hi } = f.domain;
    let best = Number.POSITIVE_INFINITY;
    let at: [number, number] = [0, 0];
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        const x = lo + ((hi - lo) * i) / (n - 1);
        const y = lo + ((hi - lo) * j) / (n - 1);
        const v = f.value(x, y);
        if (v < best) {
          best = v;
          at = [x, y];
        }
      }
    }
    expect(best).toBeGreaterThanOrEqual(f.minValue - 1e-9);
    // The grid's best point is next to a global minimiser (one grid cell).
    expect(distanceToMinimum(f, at[0], at[1])).toBeLessThan((Math.SQRT2 * (hi - lo)) / (n - 1));
  });

  it.each(
    FUNCTION_NAMES,
  )("%s: the gradient matches finite differences and vanishes at the minima", (name) => {
    const f = FUNCTIONS[name];
    const rng = Rng.from(`grad/${name}`);
    const g = new Float64Array(2);
    const h = 1e-6;
    for (let t = 0; t < 200; t++) {
      const x = rng.uniform(f.domain.lo, f.domain.hi);
      const y = rng.uniform(f.domain.lo, f.domain.hi);
      f.gradient(x, y, g);
      const fx = (f.value(x + h, y) - f.value(x - h, y)) / (2 * h);
      const fy = (f.value(x, y + h) - f.value(x, y - h)) / (2 * h);
      const scale = 1 + Math.abs(fx) + Math.abs(fy);
      expect(Math.abs((g[0] as number) - fx) / scale).toBeLessThan(1e-5);
      expect(Math.abs((g[1] as number) - fy) / scale).toBeLessThan(1e-5);
    }
    for (const [mx, my] of f.minima) {
      f.gradient(mx, my, g);
      expect(Math.hypot(g[0] as number, g[1] as number)).toBeLessThan(1e-8);
    }
  });

  it("names an unknown function in its error", () => {
    expect(() => functionOf("rosenbrock")).toThrow(/unknown test function "rosenbrock"/);
  });
});
