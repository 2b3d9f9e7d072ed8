/**
 * Params schemas and result types of the landscape service methods
 * (`landscape.grid`, `landscape.experiment`), listed in the contract's
 * METHODS. No runtime import of the contract here: the contract imports this.
 */
import { z } from "zod";
import {
  DEFAULT_KERNEL,
  DEFAULT_SEEDS,
  type ExperimentResult,
  type SameDeltaComparison,
} from "./experiment.js";
import { FUNCTION_NAMES, type LandscapeFunctionName } from "./functions.js";
import { KERNEL_NAMES, type KernelName } from "./kernels.js";
import { DEFAULT_MC_SAMPLES, type SmoothingMethod } from "./smooth.js";

const fnName = z.enum(FUNCTION_NAMES as [LandscapeFunctionName, ...LandscapeFunctionName[]], {
  error: `fn must be one of ${FUNCTION_NAMES.join(", ")}`,
});
const kernelName = z.enum(KERNEL_NAMES as [KernelName, ...KernelName[]], {
  error: `kernel must be one of ${KERNEL_NAMES.join(", ")}`,
});

export const landscapeGridParams = z.strictObject({
  fn: fnName,
  /** Degree of smoothing; 0 gives f itself. */
  delta: z.number().min(0).max(1000).default(0),
  kernel: kernelName.default(DEFAULT_KERNEL),
  /** Points per side. */
  size: z.number().int().min(8).max(512).default(128),
  /** Monte Carlo samples per point (functions without a closed form). */
  samples: z.number().int().min(1).max(4096).default(DEFAULT_MC_SAMPLES),
  seed: z.number().int().min(0).default(0),
});

/** The most SGD iterations (seeds x iterations, all schedules) one experiment call may run. */
export const MAX_EXPERIMENT_ITERATIONS = 50_000_000;

export const landscapeExperimentParams = z.strictObject({
  fn: fnName,
  kernel: kernelName.default(DEFAULT_KERNEL),
  /** Preset names, "constant-final-delta", or schedule documents; default: the comparison set. */
  schedules: z.array(z.unknown()).min(1).max(16).optional(),
  seeds: z.number().int().min(1).max(10_000).default(DEFAULT_SEEDS),
  seed: z.number().int().min(0).default(0),
  /** Gradient-noise level C; default: the function's. */
  noise: z.number().positive().optional(),
  /** Step size = lrScale * LR; default: the function's. */
  lrScale: z.number().positive().optional(),
  tolerance: z.number().positive().optional(),
  /** Simulated dataset size (iterations per epoch = ceil(N / batch)). */
  datasetSize: z.number().int().min(1).max(10_000_000).optional(),
  /** Seeds whose trajectories come back (per-epoch positions), for drawing. */
  trajectories: z.number().int().min(0).max(200).default(24),
  level: z.number().gt(0).lt(1).default(0.95),
});

export interface LandscapeFunctionInfo {
  name: LandscapeFunctionName;
  title: string;
  formula: string;
  domain: { lo: number; hi: number };
  minima: [number, number][];
  minValue: number;
  /** Whether f_delta has a closed form (else Monte Carlo). */
  closedForm: boolean;
  defaults: { lrScale: number; noise: Record<KernelName, number>; tolerance: number };
}

export interface LandscapeGrid {
  fn: LandscapeFunctionInfo;
  kernel: KernelName;
  delta: number;
  size: number;
  /** Row-major, size x size: values[j * size + i] at x = lo + i (hi - lo) / (size - 1), y likewise with j; row 0 is the bottom (y = lo). Rounded to 7 significant digits (Float32 precision). */
  values: number[];
  min: number;
  max: number;
  method: SmoothingMethod;
  /** Monte Carlo samples per point, or null. */
  samples: number | null;
  /** Every function's name and title, for pickers. */
  functions: { name: LandscapeFunctionName; title: string }[];
}

export interface LandscapeExperiment extends ExperimentResult {
  info: LandscapeFunctionInfo;
  /** Each decaying schedule against the constant one at its final delta (when the set has one). */
  comparisons: SameDeltaComparison[];
}
