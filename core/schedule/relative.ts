/**
 * Run length: a schedule meets the run it drives.
 *
 * A version 2 document with `time: "run"` gives every time as a fraction of
 * the run; it is resolved to an ordinary (epoch-time) schedule of the run's
 * length by scaling every time by that length (and every per-time rate, the
 * `gamma` of `exponential` and the `rate` of exponential batch growth, by the
 * matching root). An epoch-time schedule run for a different number of epochs
 * is either cut or continued ("truncate", what PyTorch does when you stop
 * early) or stretched to the run ("fit": the same scaling, by run / schedule).
 * Either way the compiler says so in a warning (see compile.ts).
 */
import type { BatchSpec, DeltaSpec, LrSpec, Schedule } from "./spec.js";

/** What to do with an epoch-time schedule whose length differs from the run's. */
export type RunFit = "truncate" | "fit";
export const RUN_FITS: readonly RunFit[] = ["truncate", "fit"];

/** How the schedule was brought to the run's length. */
export type RunLengthMode =
  /** The document is relative to the run (`time: "run"`): resolved to the run's length. */
  | "relative"
  /** An epoch-time schedule run for exactly its length. */
  | "exact"
  /** An epoch-time schedule cut short (the run is shorter than the schedule). */
  | "truncate"
  /** An epoch-time schedule continued past its end (the run is longer). */
  | "extend"
  /** An epoch-time schedule stretched or squeezed to the run's length. */
  | "fit";

export interface RunLength {
  mode: RunLengthMode;
  /** The length written in the document (for a relative one: its default length). */
  scheduleEpochs: number;
  /** The length of the run, i.e. of the compiled schedule. */
  runEpochs: number;
}

export interface RunLengthOptions {
  /** The run's length in epochs; default the document's `epochs`. */
  epochs?: number | undefined;
  /** For an epoch-time schedule of another length: cut/continue it (default) or stretch it. */
  fit?: RunFit | undefined;
}

/** True when the document's times are fractions of the run. */
export function isRelative(schedule: Pick<Schedule, "time">): boolean {
  return schedule.time === "run";
}

/**
 * The schedule as an epoch-time (version 1) document of the run's length,
 * and how it got there. A version 1 result has no `time` field, so the rest
 * of the core (compiler, PyTorch export) never sees fractions.
 */
export function resolveRunLength(
  schedule: Schedule,
  options: RunLengthOptions = {},
): { schedule: Schedule; length: RunLength } {
  const scheduleEpochs = schedule.epochs;
  const runEpochs = options.epochs ?? scheduleEpochs;
  let mode: RunLengthMode;
  let k: number;
  if (isRelative(schedule)) {
    mode = "relative";
    k = runEpochs;
  } else if (runEpochs === scheduleEpochs) {
    mode = "exact";
    k = 1;
  } else if ((options.fit ?? "truncate") === "fit") {
    mode = "fit";
    k = runEpochs / scheduleEpochs;
  } else {
    mode = runEpochs < scheduleEpochs ? "truncate" : "extend";
    k = 1;
  }
  const { time: _time, ...rest } = schedule;
  const out: Schedule = { ...rest, version: 1, epochs: runEpochs };
  if (k !== 1) {
    if (out.lr) out.lr = scaleLr(out.lr, k);
    if (out.batch) out.batch = scaleBatch(out.batch, k);
    if (out.smoothing)
      out.smoothing = { ...out.smoothing, delta: scaleDelta(out.smoothing.delta, k) };
  }
  return { schedule: out, length: { mode, scheduleEpochs, runEpochs } };
}

/**
 * Every time in an LR spec multiplied by k (a rate per time unit raised to
 * 1/k, so that the value at a scaled time is the value at the original one).
 */
export function scaleLr(spec: LrSpec, k: number): LrSpec {
  switch (spec.kind) {
    case "constant":
      return { ...spec };
    case "step":
      return { ...spec, stepSize: spec.stepSize * k };
    case "multistep":
      return { ...spec, milestones: spec.milestones.map((m) => m * k) };
    case "exponential":
      return { ...spec, gamma: spec.gamma ** (1 / k) };
    case "cosine":
      return { ...spec, tMax: spec.tMax * k };
    case "cosine-restarts":
      return { ...spec, t0: spec.t0 * k };
    case "polynomial":
      return { ...spec, totalIters: spec.totalIters * k };
    case "linear":
      // A document as typed may leave totalIters to its default (5).
      return { ...spec, totalIters: (spec.totalIters ?? 5) * k };
    case "onecycle":
      return spec.epochs === undefined ? { ...spec } : { ...spec, epochs: spec.epochs * k };
    case "keyframes":
      return { ...spec, points: spec.points.map((p) => ({ ...p, epoch: p.epoch * k })) };
    case "warmup":
      return { ...spec, epochs: spec.epochs * k, schedule: scaleLr(spec.schedule, k) };
    case "sequence":
      return {
        ...spec,
        pieces: spec.pieces.map((p) => ({
          ...p,
          ...(p.epochs === undefined ? {} : { epochs: p.epochs * k }),
          schedule: scaleLr(p.schedule, k),
        })),
      };
  }
}

export function scaleBatch(spec: BatchSpec, k: number): BatchSpec {
  switch (spec.kind) {
    case "constant":
      return { ...spec };
    case "step":
      return { ...spec, every: spec.every * k };
    case "multistep":
      return { ...spec, milestones: spec.milestones.map((m) => m * k) };
    case "exponential":
      return { ...spec, rate: spec.rate ** (1 / k) };
    case "polynomial":
      return spec.epochs === undefined ? { ...spec } : { ...spec, epochs: spec.epochs * k };
    case "keyframes":
      return { ...spec, points: spec.points.map((p) => ({ ...p, epoch: p.epoch * k })) };
  }
}

export function scaleDelta(spec: DeltaSpec, k: number): DeltaSpec {
  switch (spec.kind) {
    case "stagewise":
      return { ...spec, every: spec.every * k };
    case "polynomial":
      return { ...spec };
    case "keyframes":
      return { ...spec, points: spec.points.map((p) => ({ ...p, epoch: p.epoch * k })) };
  }
}

/**
 * A document as typed or opened (not yet validated: defaults may be missing)
 * in epoch time: a relative one resolved at its own `epochs`, any other
 * returned as it is. The Designer edits epoch-time documents (this module is
 * pure, so the renderer imports it at run time).
 */
export function toEpochTimeDoc<
  D extends {
    version: number;
    time?: string | undefined;
    epochs: number;
    lr?: unknown;
    batch?: unknown;
    smoothing?: unknown;
  },
>(doc: D): Omit<D, "time"> {
  if (doc.time !== "run") return doc;
  const k = doc.epochs;
  const { time: _time, ...rest } = doc;
  const out = { ...rest, version: 1 } as Omit<D, "time"> & {
    lr?: unknown;
    batch?: unknown;
    smoothing?: { delta: DeltaSpec } | undefined;
  };
  if (out.lr) out.lr = scaleLr(out.lr as LrSpec, k);
  if (out.batch) out.batch = scaleBatch(out.batch as BatchSpec, k);
  if (out.smoothing)
    out.smoothing = { ...out.smoothing, delta: scaleDelta(out.smoothing.delta, k) };
  return out;
}

/**
 * An epoch-time schedule as a run-relative (version 2) one: every time
 * divided by its length. `resolveRunLength` of the result at the original
 * length gives the original values (up to float rounding of the divisions).
 */
export function toRelative(schedule: Schedule): Schedule {
  if (isRelative(schedule)) return schedule;
  const k = 1 / schedule.epochs;
  const out: Schedule = { ...schedule, version: 2, time: "run" };
  if (out.lr) out.lr = scaleLr(out.lr, k);
  if (out.batch) out.batch = scaleBatch(out.batch, k);
  if (out.smoothing)
    out.smoothing = { ...out.smoothing, delta: scaleDelta(out.smoothing.delta, k) };
  return out;
}
