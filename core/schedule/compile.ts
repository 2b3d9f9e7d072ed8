/**
 * The compiler: schedule + dataset size (+ optional noise level C) -> the
 * per-epoch table, per-step arrays and totals that the designer plots and the
 * trainer follows.
 *
 * Steps per epoch: ceil(N / b), the last batch of an epoch being partial; with
 * `dropLast`, floor(N / b) and the remainder is skipped (PyTorch DataLoader's
 * drop_last). Per-step `batchSize` and `delta` use the epoch's nominal batch
 * size, so a partial last batch does not show as a dip.
 */
import { delta as deltaOf, type NoiseModel, relativeDelta } from "../smoothing/delta.js";
import { type BatchCap, finalizeBatch, rawBatchAt } from "./batch.js";
import { deltaRatioAt, splitBatch, splitLr } from "./delta-trajectory.js";
import { fmtCount, MAX_STEPS } from "./limits.js";
import { baseLr, lrFunction } from "./lr.js";
import { type RunFit, type RunLength, resolveRunLength } from "./relative.js";
import type { Schedule } from "./spec.js";
import { Timeline } from "./timeline.js";
import { parseSchedule, ScheduleError } from "./validate.js";

export interface CompileOptions {
  /** Number of training examples N. */
  datasetSize: number;
  /** Gradient-noise model; without it delta is reported relative to its start. */
  noise?: NoiseModel | undefined;
  /** Overrides the schedule's dropLast. */
  dropLast?: boolean | undefined;
  /**
   * The run's length in epochs (default: the document's `epochs`). A schedule
   * relative to the run (`time: "run"`) is resolved to it; an epoch-time one
   * is cut or continued, or stretched with `fit: "fit"` (see relative.ts).
   */
  epochs?: number | undefined;
  /** For an epoch-time schedule whose length differs from `epochs`; default "truncate". */
  fit?: RunFit | undefined;
}

export interface EpochRow {
  epoch: number;
  /** LR at the epoch's first step. */
  lr: number;
  batchSize: number;
  steps: number;
  /** Samples processed by the end of this epoch (cumulative). */
  samples: number;
  /** delta at the epoch's first step (delta / delta_0 when C is unknown). */
  delta: number;
}

export interface StepArrays {
  /** Epoch of each step. */
  epoch: Int32Array;
  lr: Float64Array;
  batchSize: Int32Array;
  delta: Float64Array;
}

export type WarningCode =
  | "batch-capped-max"
  | "batch-capped-dataset"
  | "lr-zero"
  | "drop-last-discards"
  | "delta-increases"
  | "run-truncated"
  | "run-extended";

export interface CompileWarning {
  code: WarningCode;
  message: string;
  epoch?: number;
  step?: number;
}

export interface CompiledSchedule {
  /** The schedule as compiled: epoch-time (version 1), `epochs` the run's length. */
  schedule: Schedule;
  /** How the document's length was brought to the run's. */
  length: RunLength;
  datasetSize: number;
  dropLast: boolean;
  /** True when delta is delta / delta_0 (no noise level C given); delta_0 uses the base LR and the first batch size. */
  deltaRelative: boolean;
  epochs: EpochRow[];
  steps: StepArrays;
  totals: {
    epochs: number;
    /** Parameter updates (optimizer steps). */
    updates: number;
    /** Samples processed (per-example gradient computations). */
    samples: number;
    initialLr: number;
    finalLr: number;
    initialBatch: number;
    finalBatch: number;
    deltaStart: number;
    deltaEnd: number;
    deltaMin: number;
    deltaMax: number;
  };
  warnings: CompileWarning[];
}

interface BatchPlan {
  sizes: Int32Array;
  caps: BatchCap[];
}

function planBatches(schedule: Schedule, datasetSize: number): BatchPlan {
  const E = schedule.epochs;
  const sizes = new Int32Array(E);
  const caps: BatchCap[] = new Array(E).fill(null);
  const sm = schedule.smoothing;
  const spec = schedule.batch;
  const limits = sm
    ? { roundTo: sm.roundTo, max: sm.max, datasetSize }
    : { roundTo: spec?.roundTo, max: spec?.max, datasetSize };
  const field = sm ? "smoothing" : "batch";
  for (let e = 0; e < E; e++) {
    let raw: number;
    if (sm) raw = splitBatch(sm.batch, deltaRatioAt(sm.delta, e, E), sm.split);
    else if (spec) raw = rawBatchAt(spec, e, E);
    else throw new Error("unreachable: validated schedule has batch or smoothing");
    if (!(raw >= 1 - 1e-9) || !Number.isFinite(raw)) {
      throw new ScheduleError([
        {
          path: field,
          value: undefined,
          message: `the batch size falls to ${Number.isFinite(raw) ? raw.toPrecision(3) : raw} at epoch ${e}; batch sizes must stay >= 1, so ${
            sm
              ? "let delta rise less, start from a larger batch, or lower the split (delta growth then goes to the LR)"
              : "use a growth factor >= 1 or fewer epochs"
          }`,
        },
      ]);
    }
    const { size, cap } = finalizeBatch(raw, limits);
    sizes[e] = size;
    caps[e] = cap;
  }
  return { sizes, caps };
}

export function compileSchedule(
  input: Schedule | unknown,
  options: CompileOptions,
): CompiledSchedule {
  const resolved = resolveRunLength(parseSchedule(input), {
    epochs: options.epochs,
    fit: options.fit,
  });
  const { schedule, length } = resolved;
  const N = options.datasetSize;
  if (!Number.isInteger(N) || N < 1) {
    throw new ScheduleError([
      { path: "datasetSize", value: N, message: "the dataset size must be a whole number >= 1" },
    ]);
  }
  const E = schedule.epochs;
  const dropLast = options.dropLast ?? schedule.dropLast;
  const warnings: CompileWarning[] = [];

  const { sizes, caps } = planBatches(schedule, N);
  const stepsPerEpoch = new Int32Array(E);
  let totalSteps = 0;
  for (let e = 0; e < E; e++) {
    const b = sizes[e] as number;
    const s = dropLast ? Math.floor(N / b) : Math.ceil(N / b);
    stepsPerEpoch[e] = s;
    totalSteps += s;
  }
  // Bounded work: refuse before the per-step arrays are allocated.
  if (totalSteps > MAX_STEPS) {
    let smallest = sizes[0] as number;
    for (let e = 1; e < E; e++) smallest = Math.min(smallest, sizes[e] as number);
    throw new ScheduleError([
      {
        path: "epochs",
        value: E,
        message: `the schedule compiles to ${fmtCount(totalSteps)} optimizer steps (${fmtCount(E)} epochs of up to ${fmtCount(Math.ceil(N / smallest))} steps: dataset size ${fmtCount(N)}, smallest batch size ${fmtCount(smallest)}); the limit is ${fmtCount(MAX_STEPS)} steps (MAX_STEPS): use fewer epochs, larger batches or a smaller dataset size`,
      },
    ]);
  }
  addCapWarnings(caps, sizes, N, warnings, schedule.smoothing !== undefined);
  if (dropLast) {
    const lost = N % (sizes[0] as number);
    if (lost > 0) {
      warnings.push({
        code: "drop-last-discards",
        epoch: 0,
        message: `dropLast skips ${lost} of ${N} samples in epoch 0 (N is not a multiple of the batch size ${sizes[0]})`,
      });
    }
  }

  const timeline = new Timeline(schedule.per, stepsPerEpoch);
  const lrCtx = { timeline, offset: 0, span: E };
  const sm = schedule.smoothing;
  const lrSpec = schedule.lr;
  const lrOfSpec = lrSpec ? lrFunction(lrSpec, lrCtx) : undefined;
  const lrAtTime = (t: number, e: number): number => {
    if (sm)
      return splitLr(sm.lr, sm.batch, deltaRatioAt(sm.delta, t, E), sm.split, sizes[e] as number);
    if (!lrOfSpec) throw new Error("unreachable: validated schedule has lr or smoothing");
    return lrOfSpec(t);
  };

  const steps: StepArrays = {
    epoch: new Int32Array(totalSteps),
    lr: new Float64Array(totalSteps),
    batchSize: new Int32Array(totalSteps),
    delta: new Float64Array(totalSteps),
  };
  const noise = options.noise;
  // delta_0 (the reference when C is unknown): the base LR with the first batch size.
  const lr0 = sm ? sm.lr : baseLr(lrSpec as NonNullable<typeof lrSpec>);
  const b0 = sizes[0] as number;
  const invDelta0 = 1 / relativeDelta(lr0, b0, 1, 1);
  const epochs: EpochRow[] = [];
  let k = 0;
  let samples = 0;
  let firstZero = -1;
  for (let e = 0; e < E; e++) {
    const S = stepsPerEpoch[e] as number;
    const b = sizes[e] as number;
    const epochLr = lrAtTime(e, e);
    const startStep = k;
    for (let i = 0; i < S; i++, k++) {
      const lr = schedule.per === "epoch" || i === 0 ? epochLr : lrAtTime(e + i / S, e);
      steps.epoch[k] = e;
      steps.lr[k] = lr;
      steps.batchSize[k] = b;
      steps.delta[k] = noise ? deltaOf(lr, b, noise) : (lr / Math.sqrt(b)) * invDelta0;
      if (firstZero < 0 && !(lr > 0)) firstZero = k;
    }
    samples += dropLast ? S * b : N;
    epochs.push({
      epoch: e,
      lr: epochLr,
      batchSize: b,
      steps: S,
      samples,
      delta: steps.delta[startStep] as number,
    });
  }
  if (firstZero >= 0) {
    const e = steps.epoch[firstZero] as number;
    warnings.push({
      code: "lr-zero",
      step: firstZero,
      epoch: e,
      message: `the learning rate reaches 0 at step ${firstZero} (epoch ${e}); steps from there on do not change the weights`,
    });
  }

  let dMin = Number.POSITIVE_INFINITY;
  let dMax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < totalSteps; i++) {
    const d = steps.delta[i] as number;
    if (d < dMin) dMin = d;
    if (d > dMax) dMax = d;
  }
  const dStart = steps.delta[0] as number;
  const dEnd = steps.delta[totalSteps - 1] as number;
  if (dEnd > dStart * (1 + 1e-12)) {
    warnings.push({
      code: "delta-increases",
      message: `delta ends higher than it starts (${fmt(dEnd / dStart)}x): the run smooths the loss more at the end; graduated optimization decays delta`,
    });
  }

  addLengthWarnings(length, steps, warnings);

  return {
    schedule,
    length,
    datasetSize: N,
    dropLast,
    deltaRelative: !noise,
    epochs,
    steps,
    totals: {
      epochs: E,
      updates: totalSteps,
      samples,
      initialLr: steps.lr[0] as number,
      finalLr: steps.lr[totalSteps - 1] as number,
      initialBatch: b0,
      finalBatch: sizes[E - 1] as number,
      deltaStart: dStart,
      deltaEnd: dEnd,
      deltaMin: dMin,
      deltaMax: dMax,
    },
    warnings,
  };
}

function addCapWarnings(
  caps: BatchCap[],
  sizes: Int32Array,
  N: number,
  warnings: CompileWarning[],
  smoothingFirst: boolean,
): void {
  const compensation = smoothingFirst
    ? "; the learning rate decays further to keep delta on its trajectory"
    : "";
  const firstMax = caps.indexOf("max");
  if (firstMax >= 0) {
    warnings.push({
      code: "batch-capped-max",
      epoch: firstMax,
      message: `the batch size is capped at max = ${sizes[firstMax]} from epoch ${firstMax}${compensation}`,
    });
  }
  const firstData = caps.indexOf("dataset");
  if (firstData >= 0) {
    warnings.push({
      code: "batch-capped-dataset",
      epoch: firstData,
      message: `the batch size exceeds the dataset (N = ${N}) from epoch ${firstData}; capped at ${N} (one step per epoch)${compensation}`,
    });
  }
}

/**
 * An epoch-time schedule run for another length than its own, without "fit":
 * say what the run keeps of it, in the words the views and the CLI show.
 */
function addLengthWarnings(length: RunLength, steps: StepArrays, warnings: CompileWarning[]): void {
  const { mode, runEpochs: run, scheduleEpochs: full } = length;
  if (mode === "truncate") {
    const n = steps.lr.length;
    let lrChanges = false;
    let batchChanges = false;
    for (let i = 1; i < n; i++) {
      if (steps.lr[i] !== steps.lr[0]) lrChanges = true;
      if (steps.batchSize[i] !== steps.batchSize[0]) batchChanges = true;
    }
    const what =
      !lrChanges && !batchChanges
        ? `LR and batch never change in these ${plural(run, "epoch")}`
        : !batchChanges
          ? `the batch never changes in these ${plural(run, "epoch")}`
          : !lrChanges
            ? `the LR never changes in these ${plural(run, "epoch")}`
            : `the rest of the schedule never runs`;
    warnings.push({
      code: "run-truncated",
      epoch: run,
      message: `the run is ${plural(run, "epoch")} of this ${full}-epoch schedule (truncated): ${what}; fit the schedule to the run to go through its whole shape in ${plural(run, "epoch")}`,
    });
  } else if (mode === "extend") {
    warnings.push({
      code: "run-extended",
      epoch: full,
      message: `the run is ${plural(run, "epoch")}, longer than this ${full}-epoch schedule: from epoch ${full} on its formulas simply continue; fit the schedule to the run to stretch it over ${plural(run, "epoch")}`,
    });
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function fmt(x: number): string {
  return Number(x.toPrecision(4)).toString();
}
