/**
 * Simulated SGD on a test function, driven by a compiled schedule.
 *
 * The mapping (docs/landscape.md explains the choice):
 * - time: the schedule is compiled for a simulated dataset of `datasetSize`
 *   examples, so an epoch is ceil(N / b) iterations and growing the batch
 *   means fewer updates per epoch, as in real training;
 * - step size: alpha_k = lrScale * lr_k (the test functions are far more
 *   curved than a network's loss, so the schedule's LR is scaled once);
 * - gradient noise: the stochastic gradient is grad f(x) + (C / sqrt(b_k)) u
 *   with u drawn from the same distribution as the smoothing kernel (Gaussian:
 *   standard deviation C / sqrt(b) per coordinate; ball: norm at most
 *   C / sqrt(b), the paper's bounded variance);
 * - so each step moves the iterate by -alpha grad f(x) - delta_k u, with
 *   delta_k = alpha_k C / sqrt(b_k) = lrScale * lr_k * C / sqrt(b_k): the
 *   paper's degree of smoothing, in the function's own coordinates;
 * - the iterate is projected back onto the function's square domain.
 */
import type { Rng } from "../data/rng.js";
import { type CompiledSchedule, compileSchedule, type Schedule } from "../schedule/index.js";
import type { TestFunction } from "./functions.js";
import type { Kernel } from "./kernels.js";

export interface SimulationSettings {
  /** Gradient-noise level C (per example). */
  c: number;
  /** Step size = lrScale * the schedule's LR. */
  lrScale: number;
  /** Simulated dataset size N: ceil(N / b) iterations per epoch. */
  datasetSize: number;
}

export interface SimulationPlan {
  /** alpha_k, per iteration. */
  stepSize: Float64Array;
  /** C / sqrt(b_k), per iteration: the gradient noise's scale. */
  noiseScale: Float64Array;
  /** Index of each epoch's first iteration; epochStart[E] = the number of iterations. */
  epochStart: Int32Array;
  /** The compiled schedule, with delta = alpha C / sqrt(b) (noise c = lrScale * C). */
  compiled: CompiledSchedule;
}

export function planSimulation(schedule: Schedule, settings: SimulationSettings): SimulationPlan {
  // delta = lr * (lrScale * C) / sqrt(b) = alpha * C / sqrt(b).
  const compiled = compileSchedule(schedule, {
    datasetSize: settings.datasetSize,
    noise: { c: settings.lrScale * settings.c },
  });
  const { lr, batchSize } = compiled.steps;
  const n = lr.length;
  const stepSize = new Float64Array(n);
  const noiseScale = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    stepSize[k] = settings.lrScale * (lr[k] as number);
    noiseScale[k] = settings.c / Math.sqrt(batchSize[k] as number);
  }
  const E = compiled.epochs.length;
  const epochStart = new Int32Array(E + 1);
  for (let e = 0; e < E; e++)
    epochStart[e + 1] = (epochStart[e] as number) + (compiled.epochs[e]?.steps as number);
  return { stepSize, noiseScale, epochStart, compiled };
}

/** One draw of the simulated gradient noise at batch size b: (C / sqrt(b)) u. */
export function gradientNoise(
  kernel: Kernel,
  rng: Rng,
  c: number,
  batchSize: number,
  out: Float64Array,
): void {
  kernel.sample(rng, out);
  const s = c / Math.sqrt(batchSize);
  out[0] = (out[0] as number) * s;
  out[1] = (out[1] as number) * s;
}

/**
 * Runs SGD from `start` through the plan. With `record` (length 2 (E + 1)),
 * writes the iterate at the start of every epoch and at the end.
 * Returns the final iterate.
 */
export function runSgd(
  f: TestFunction,
  plan: SimulationPlan,
  kernel: Kernel,
  rng: Rng,
  start: readonly [number, number],
  record?: Float64Array,
): [number, number] {
  const { stepSize, noiseScale, epochStart } = plan;
  const { lo, hi } = f.domain;
  const g = new Float64Array(2);
  const u = new Float64Array(2);
  let x = start[0];
  let y = start[1];
  const E = epochStart.length - 1;
  for (let e = 0; e < E; e++) {
    if (record) {
      record[2 * e] = x;
      record[2 * e + 1] = y;
    }
    const end = epochStart[e + 1] as number;
    for (let k = epochStart[e] as number; k < end; k++) {
      f.gradient(x, y, g);
      kernel.sample(rng, u);
      const a = stepSize[k] as number;
      const s = noiseScale[k] as number;
      x -= a * ((g[0] as number) + s * (u[0] as number));
      y -= a * ((g[1] as number) + s * (u[1] as number));
      // Projection onto the domain (a NaN from an overflowing step lands on the edge).
      if (!(x >= lo)) x = lo;
      else if (x > hi) x = hi;
      if (!(y >= lo)) y = lo;
      else if (y > hi) y = hi;
    }
  }
  if (record) {
    record[2 * E] = x;
    record[2 * E + 1] = y;
  }
  return [x, y];
}
