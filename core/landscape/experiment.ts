/**
 * Experiments: many seeds from random starts, under several schedules, on one
 * test function. Every schedule sees the same starting points (seed i starts
 * at the same place under every schedule), so the comparison is paired.
 * Reports the success rate (final iterate within `tolerance` of a global
 * minimiser) with Wilson's interval and the mean final value with a t interval.
 */
import { Rng } from "../data/rng.js";
import { findPreset, PRESETS, parseSchedule, type Schedule } from "../schedule/index.js";
import { distanceToMinimum, functionOf, type LandscapeFunctionName } from "./functions.js";
import { type KernelName, kernelOf } from "./kernels.js";
import { planSimulation, runSgd, type SimulationSettings } from "./simulate.js";
import {
  type DifferenceInterval,
  type MeanInterval,
  meanInterval,
  type RateInterval,
  rateDifference,
  wilson,
} from "./stats.js";

/** Per-function simulation defaults (docs/landscape.md: how they were chosen). */
export interface FunctionDefaults {
  /** Step size = lrScale * LR: alpha_0 = lrScale * 0.1 at the paper's base LR, below 2 / (the largest curvature near the minima). */
  lrScale: number;
  /** delta_0 at the paper's base (LR 0.1, batch 128) with the ball kernel; C follows from it. */
  delta0: number;
  /** Success: the final iterate within this distance of a global minimiser. */
  tolerance: number;
}

export const SIMULATION_DEFAULTS: Record<LandscapeFunctionName, FunctionDefaults> = {
  rastrigin: { lrScale: 0.04, delta0: 0.4, tolerance: 0.3 },
  "drop-wave": { lrScale: 0.1, delta0: 0.1, tolerance: 0.15 },
  ackley: { lrScale: 0.3, delta0: 0.4, tolerance: 0.3 },
  "styblinski-tang": { lrScale: 0.12, delta0: 1, tolerance: 1 },
  himmelblau: { lrScale: 0.05, delta0: 0.2, tolerance: 0.3 },
};

/** The paper's base LR and batch size, where the defaults put delta_0. */
export const REFERENCE = { lr: 0.1, batch: 128 } as const;

/**
 * The default noise level C for a function and kernel: the ball kernel gets
 * delta_0 at the paper's base; other kernels get the same per-coordinate
 * variance of the gradient noise (the Gaussian's C is half the ball's).
 */
export function defaultNoiseLevel(fn: LandscapeFunctionName, kernel: KernelName): number {
  const d = SIMULATION_DEFAULTS[fn];
  const cBall = (d.delta0 * Math.sqrt(REFERENCE.batch)) / (d.lrScale * REFERENCE.lr);
  return cBall * Math.sqrt(kernelOf("ball").m2 / kernelOf(kernel).m2);
}

/** The simulated dataset size: 20 iterations per epoch at batch 128, 2 at the largest preset batch (2048). */
export const DEFAULT_DATASET_SIZE = 2560;
export const DEFAULT_SEEDS = 200;
/** The paper's bounded noise, ||u|| <= 1. */
export const DEFAULT_KERNEL: KernelName = "ball";

/**
 * The constant schedule with the paper schedules' final delta: LR 0.1 / 4 =
 * 0.025 at batch 128 (the paper's four end at delta_0 / 4 after four stages of
 * gamma = 1/sqrt(2)); its final (LR, batch) is exactly paper-lr-decay's.
 */
export const CONSTANT_FINAL_DELTA: Schedule = parseSchedule({
  version: 1,
  name: "constant-final-delta",
  description:
    "LR 0.025, batch 128 for 200 epochs: constant at the delta the paper's schedules end with (delta_0 / 4); paper-lr-decay's last stage, from the start.",
  epochs: 200,
  lr: { kind: "constant", lr: 0.025 },
  batch: { kind: "constant", size: 128 },
});

/** Schedules the landscape commands know by name besides the presets. */
export const LANDSCAPE_SCHEDULES: readonly { name: string; title: string; schedule: Schedule }[] = [
  {
    name: "constant-final-delta",
    title: "Constant at the final δ (LR 0.025)",
    schedule: CONSTANT_FINAL_DELTA,
  },
];

/** The default comparison: constant, constant at the final delta, the paper's three decays, polynomial delta. */
export const DEFAULT_SCHEDULE_NAMES = [
  "paper-constant",
  "constant-final-delta",
  "paper-lr-decay",
  "paper-batch-growth",
  "paper-hybrid",
  "poly-delta-0.5",
  "poly-delta-1",
] as const;

export interface NamedSchedule {
  name: string;
  title: string;
  schedule: Schedule;
}

/** A preset or landscape schedule by name; undefined when there is none. */
export function findLandscapeSchedule(name: string): NamedSchedule | undefined {
  const extra = LANDSCAPE_SCHEDULES.find((s) => s.name === name);
  if (extra) return extra;
  const preset = findPreset(name);
  return preset
    ? { name: preset.name, title: preset.title, schedule: parseSchedule(preset.schedule) }
    : undefined;
}

export function landscapeScheduleNames(): string[] {
  return [...LANDSCAPE_SCHEDULES.map((s) => s.name), ...PRESETS.map((p) => p.name)];
}

export function defaultSchedules(): NamedSchedule[] {
  return DEFAULT_SCHEDULE_NAMES.map((n) => {
    const s = findLandscapeSchedule(n);
    if (!s) throw new Error(`unreachable: default schedule ${n} missing`);
    return s;
  });
}

export interface ExperimentOptions {
  fn: LandscapeFunctionName;
  /** Noise distribution of the gradient noise (and of the smoothing kernel shown). */
  kernel?: KernelName;
  schedules?: NamedSchedule[];
  seeds?: number;
  /** Base seed: seed i of base s starts at the same point whatever the schedule. */
  seed?: number;
  c?: number;
  lrScale?: number;
  tolerance?: number;
  datasetSize?: number;
  /** How many seeds' trajectories to keep (per-epoch positions), for drawing. */
  trajectories?: number;
  /** Confidence level of the intervals. */
  level?: number;
}

export interface ScheduleOutcome {
  name: string;
  title: string;
  epochs: number;
  /** SGD iterations in the simulation. */
  updates: number;
  /** delta = lrScale * lr * C / sqrt(b), in the function's coordinates. */
  deltaStart: number;
  deltaEnd: number;
  finalLr: number;
  finalBatch: number;
  success: RateInterval;
  finalValue: MeanInterval;
  /** Mean distance of the final iterate to the nearest global minimiser. */
  meanFinalDistance: number;
  /** Per epoch (at its first iteration). */
  perEpoch: { delta: number[]; lr: number[]; batchSize: number[] };
  /** Per kept seed: [x_0, y_0, ..., x_E, y_E], the iterate at the start of each epoch and at the end. */
  trajectories: number[][];
}

export interface ExperimentResult {
  fn: LandscapeFunctionName;
  kernel: KernelName;
  settings: Required<Omit<ExperimentOptions, "fn" | "kernel" | "schedules">>;
  schedules: ScheduleOutcome[];
  /** Wall time of the simulation, milliseconds. */
  elapsedMs: number;
}

/** The random start of seed i (uniform on the domain), the same under every schedule. */
export function startOf(fn: LandscapeFunctionName, base: number, i: number): [number, number] {
  const { lo, hi } = functionOf(fn).domain;
  const rng = Rng.from(`landscape/${base}/${i}/start`);
  return [rng.uniform(lo, hi), rng.uniform(lo, hi)];
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

export function runExperiment(options: ExperimentOptions): ExperimentResult {
  const t0 = performance.now();
  const f = functionOf(options.fn);
  const kernelName = options.kernel ?? DEFAULT_KERNEL;
  const kernel = kernelOf(kernelName);
  const defaults = SIMULATION_DEFAULTS[f.name];
  const settings = {
    seeds: options.seeds ?? DEFAULT_SEEDS,
    seed: options.seed ?? 0,
    c: options.c ?? defaultNoiseLevel(f.name, kernelName),
    lrScale: options.lrScale ?? defaults.lrScale,
    tolerance: options.tolerance ?? defaults.tolerance,
    datasetSize: options.datasetSize ?? DEFAULT_DATASET_SIZE,
    trajectories: Math.min(options.trajectories ?? 0, options.seeds ?? DEFAULT_SEEDS),
    level: options.level ?? 0.95,
  };
  const sim: SimulationSettings = {
    c: settings.c,
    lrScale: settings.lrScale,
    datasetSize: settings.datasetSize,
  };
  const schedules = options.schedules ?? defaultSchedules();
  const starts = Array.from({ length: settings.seeds }, (_, i) =>
    startOf(f.name, settings.seed, i),
  );
  const outcomes = schedules.map((s): ScheduleOutcome => {
    const plan = planSimulation(s.schedule, sim);
    const c = plan.compiled;
    const E = c.epochs.length;
    const finals = new Float64Array(settings.seeds);
    let successes = 0;
    let distSum = 0;
    const trajectories: number[][] = [];
    const record = new Float64Array(2 * (E + 1));
    for (let i = 0; i < settings.seeds; i++) {
      const rng = Rng.from(`landscape/${settings.seed}/${i}/noise/${s.name}`);
      const keep = i < settings.trajectories;
      const [x, y] = runSgd(
        f,
        plan,
        kernel,
        rng,
        starts[i] as [number, number],
        keep ? record : undefined,
      );
      if (keep) trajectories.push(Array.from(record, round4));
      finals[i] = f.value(x, y);
      const d = distanceToMinimum(f, x, y);
      distSum += d;
      if (d <= settings.tolerance) successes++;
    }
    return {
      name: s.name,
      title: s.title,
      epochs: E,
      updates: c.totals.updates,
      deltaStart: c.totals.deltaStart,
      deltaEnd: c.totals.deltaEnd,
      finalLr: c.totals.finalLr,
      finalBatch: c.totals.finalBatch,
      success: wilson(successes, settings.seeds, settings.level),
      finalValue: meanInterval(finals, settings.level),
      meanFinalDistance: distSum / settings.seeds,
      perEpoch: {
        delta: c.epochs.map((r) => r.delta),
        lr: c.epochs.map((r) => r.lr),
        batchSize: c.epochs.map((r) => r.batchSize),
      },
      trajectories,
    };
  });
  return {
    fn: f.name,
    kernel: kernelName,
    settings,
    schedules: outcomes,
    elapsedMs: performance.now() - t0,
  };
}

export interface SameDeltaComparison {
  /** A schedule whose delta decays... */
  schedule: string;
  /** ...and the constant schedule that sits at its final delta throughout. */
  baseline: string;
  /** Success rate of `schedule` minus that of `baseline`, with Newcombe's interval. */
  difference: DifferenceInterval;
}

/**
 * Each schedule whose delta changes, against the constant schedule (in the
 * same experiment) whose delta equals its final delta: the test of graduated
 * optimization (same end point, different path).
 */
export function compareWithConstant(result: ExperimentResult): SameDeltaComparison[] {
  const same = (a: number, b: number) =>
    Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  const isConstant = (s: ScheduleOutcome) => s.perEpoch.delta.every((d) => same(d, s.deltaStart));
  const constants = result.schedules.filter(isConstant);
  const out: SameDeltaComparison[] = [];
  for (const s of result.schedules) {
    if (isConstant(s)) continue;
    const base = constants.find((c) => same(c.deltaStart, s.deltaEnd));
    if (!base) continue;
    out.push({
      schedule: s.name,
      baseline: base.name,
      difference: rateDifference(
        s.success.successes,
        s.success.n,
        base.success.successes,
        base.success.n,
        result.settings.level,
      ),
    });
  }
  return out;
}
