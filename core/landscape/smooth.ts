/**
 * The smoothed function f_delta(x) = E_u[f(x - delta u)] on a grid: in closed
 * form where the function has one, else by Monte Carlo over a fixed, seeded
 * set of `samples` noise draws shared by every grid point (common random
 * numbers, so the picture is itself smooth and the same on every call).
 */
import { Rng } from "../data/rng.js";
import type { TestFunction } from "./functions.js";
import type { Kernel } from "./kernels.js";

/** Default Monte Carlo sample count for functions without a closed form. */
export const DEFAULT_MC_SAMPLES = 256;

export type SmoothingMethod = "exact" | "closed-form" | "monte-carlo";

/** Fixed noise draws u_1..u_S as [x0, y0, x1, y1, ...]. */
export function kernelSamples(
  kernel: Kernel,
  samples: number,
  seed: number | string,
): Float64Array {
  const rng = Rng.from(`landscape-smoothing/${kernel.name}/${seed}`);
  const out = new Float64Array(2 * samples);
  const u = new Float64Array(2);
  for (let s = 0; s < samples; s++) {
    kernel.sample(rng, u);
    out[2 * s] = u[0] as number;
    out[2 * s + 1] = u[1] as number;
  }
  return out;
}

/** Monte Carlo estimate of f_delta(x, y) from the draws `u` (see kernelSamples). */
export function smoothedMonteCarlo(
  f: TestFunction,
  x: number,
  y: number,
  delta: number,
  u: Float64Array,
): number {
  const n = u.length / 2;
  let sum = 0;
  for (let s = 0; s < n; s++)
    sum += f.value(x - delta * (u[2 * s] as number), y - delta * (u[2 * s + 1] as number));
  return sum / n;
}

export interface GridOptions {
  /** Points per side (the grid is size x size). */
  size: number;
  delta: number;
  kernel: Kernel;
  /** Monte Carlo samples, used only without a closed form. */
  samples?: number;
  /** Seed of the Monte Carlo draws. */
  seed?: number;
  /** Use Monte Carlo even when a closed form exists (for checks). */
  forceMonteCarlo?: boolean;
}

export interface Grid {
  size: number;
  /** Row-major: values[j * size + i] is f at x = lo + i * step, y = lo + j * step (row 0 is the bottom). */
  values: Float64Array;
  lo: number;
  hi: number;
  min: number;
  max: number;
  method: SmoothingMethod;
  /** Monte Carlo samples per point; null when not Monte Carlo. */
  samples: number | null;
}

export function smoothedGrid(f: TestFunction, options: GridOptions): Grid {
  const { size, delta, kernel } = options;
  const { lo, hi } = f.domain;
  const step = (hi - lo) / (size - 1);
  const values = new Float64Array(size * size);
  let method: SmoothingMethod;
  let samples: number | null = null;
  if (delta === 0) {
    method = "exact";
    for (let j = 0; j < size; j++)
      for (let i = 0; i < size; i++) values[j * size + i] = f.value(lo + i * step, lo + j * step);
  } else if (f.smoothed && !options.forceMonteCarlo) {
    method = "closed-form";
    const sm = f.smoothed;
    for (let j = 0; j < size; j++)
      for (let i = 0; i < size; i++)
        values[j * size + i] = sm(lo + i * step, lo + j * step, delta, kernel);
  } else {
    method = "monte-carlo";
    samples = options.samples ?? DEFAULT_MC_SAMPLES;
    const u = kernelSamples(kernel, samples, options.seed ?? 0);
    for (let j = 0; j < size; j++)
      for (let i = 0; i < size; i++)
        values[j * size + i] = smoothedMonteCarlo(f, lo + i * step, lo + j * step, delta, u);
  }
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { size, values, lo, hi, min, max, method, samples };
}
