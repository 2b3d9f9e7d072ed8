/**
 * The live run view's series: filled from a run's history (`runs.metrics`)
 * when the view re-attaches to a run that is already training, then extended
 * by the live events. Step metrics are plotted at their step; epoch metrics
 * at the number of steps done when the epoch ended (step + 1), as live.
 *
 * delta is two series: the scheduled delta / delta_0 (what the schedule's LR
 * and batch imply) and the measured delta (lr * C / sqrt(b) with the running
 * estimate of C), plus the steps where C was re-estimated (the measured delta
 * steps there even at constant LR and batch).
 */
import type { EpochEvent, StepEvent, TrainEvent } from "../../../core/api/events";
import type { MetricSeries } from "./types";

export interface Pt {
  x: number;
  y: number;
  /** Only on C re-estimation markers: the new estimate of C. */
  c?: number;
}

export interface LiveSeries {
  loss: Pt[];
  lr: Pt[];
  batch: Pt[];
  /** Measured delta (lr * C / sqrt(b), C the running estimate); runs recorded before deltaScheduled: delta as recorded. */
  delta: Pt[];
  /** delta / delta_0 as scheduled (LR and batch alone). */
  deltaScheduled: Pt[];
  /** The steps where C was re-estimated, at the measured delta there; c: the new estimate. */
  cUpdates: Pt[];
  gradNorm: Pt[];
  throughput: Pt[];
  trainAcc: Pt[];
  testAcc: Pt[];
}

/** The metric keys a live view loads from history. */
export const LIVE_KEYS = [
  "loss",
  "lr",
  "batchSize",
  "delta",
  "deltaScheduled",
  "noiseCUpdate",
  "gradNorm",
  "throughput",
  "trainAccuracy",
  "testAccuracy",
] as const;

const STEP_SERIES: Record<string, keyof LiveSeries> = {
  loss: "loss",
  lr: "lr",
  batchSize: "batch",
  delta: "delta",
  deltaScheduled: "deltaScheduled",
  gradNorm: "gradNorm",
  throughput: "throughput",
};
const EPOCH_SERIES: Record<string, keyof LiveSeries> = {
  trainAccuracy: "trainAcc",
  testAccuracy: "testAcc",
};

export function emptySeries(): LiveSeries {
  return {
    loss: [],
    lr: [],
    batch: [],
    delta: [],
    deltaScheduled: [],
    cUpdates: [],
    gradNorm: [],
    throughput: [],
    trainAcc: [],
    testAcc: [],
  };
}

/** The latest values of a run, as the status line shows them. */
export interface Latest {
  step: number;
  loss: number;
  lr: number;
  batchSize: number;
  delta: number;
  gradNorm: number;
  throughput: number;
  deltaMethod?: StepEvent["deltaMethod"];
  /** The running estimate of C (null: none yet; absent: unknown). */
  noiseC?: number | null;
}

export interface History {
  series: LiveSeries;
  /** Last step recorded (-1: none). */
  lastStep: number;
  /** Number of epochs with an end-of-epoch record. */
  epochsDone: number;
  latest: Latest | null;
  lastTestAccuracy: number | null;
}

/** Builds the live series from `runs.metrics` (x = step) of one run. */
export function fromHistory(metrics: MetricSeries[]): History {
  const series = emptySeries();
  let lastStep = -1;
  let epochsDone = 0;
  let lastTestAccuracy: number | null = null;
  const lastValue: Record<string, number> = {};
  for (const m of metrics) {
    const stepKey = STEP_SERIES[m.key];
    const epochKey = EPOCH_SERIES[m.key];
    const target = stepKey ?? epochKey;
    if (!target) continue;
    const out = series[target];
    for (let i = 0; i < m.values.length; i++) {
      const y = m.values[i] as number;
      const step = m.steps[i] as number;
      if (!Number.isFinite(y)) continue;
      out.push({ x: epochKey ? step + 1 : step, y });
      if (stepKey && step > lastStep) lastStep = step;
    }
    const n = m.values.length;
    if (n > 0) lastValue[m.key] = m.values[n - 1] as number;
    if (m.key === "testAccuracy") {
      epochsDone = Math.max(epochsDone, m.total ?? n);
      if (n > 0) lastTestAccuracy = m.values[n - 1] as number;
    }
  }
  const updates = metrics.find((m) => m.key === "noiseCUpdate");
  if (updates && updates.steps.length > 0) {
    // Before C's first estimate the recorded delta was delta / delta_0: not a measurement.
    const first = updates.steps[0] as number;
    const measured = series.delta.filter((p) => p.x >= first);
    series.delta.length = 0;
    series.delta.push(...measured);
    for (let i = 0; i < updates.steps.length; i++) {
      const x = updates.steps[i] as number;
      const c = updates.values[i] as number;
      const y = nearest(series.delta, x);
      if (y !== null && Number.isFinite(c)) series.cUpdates.push({ x, y, c });
    }
    lastValue.noiseC = updates.values.at(-1) as number;
  }
  const latest: Latest | null =
    lastStep >= 0
      ? {
          step: lastStep,
          loss: lastValue.loss ?? Number.NaN,
          lr: lastValue.lr ?? Number.NaN,
          batchSize: lastValue.batchSize ?? Number.NaN,
          delta: lastValue.delta ?? Number.NaN,
          gradNorm: lastValue.gradNorm ?? Number.NaN,
          throughput: lastValue.throughput ?? Number.NaN,
          ...(lastValue.noiseC !== undefined
            ? { noiseC: lastValue.noiseC, deltaMethod: "two-batch-estimate" as const }
            : {}),
        }
      : null;
  return { series, lastStep, epochsDone, latest, lastTestAccuracy };
}

/** The value of the point nearest to x (points sorted by x), or null when there are none. */
function nearest(points: readonly Pt[], x: number): number | null {
  let lo = 0;
  let hi = points.length - 1;
  if (hi < 0) return null;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((points[mid] as Pt).x < x) lo = mid + 1;
    else hi = mid;
  }
  const after = points[lo] as Pt;
  const before = points[lo - 1];
  return before && x - before.x < after.x - x ? before.y : after.y;
}

export function appendStep(series: LiveSeries, e: StepEvent): void {
  series.loss.push({ x: e.step, y: e.loss });
  series.lr.push({ x: e.step, y: e.lr });
  series.batch.push({ x: e.step, y: e.batchSize });
  if (e.deltaScheduled !== undefined) {
    series.deltaScheduled.push({ x: e.step, y: e.deltaScheduled });
    // The measured series holds measurements only (a relative delta is the scheduled one).
    if (e.deltaMethod === "two-batch-estimate") series.delta.push({ x: e.step, y: e.delta });
  } else series.delta.push({ x: e.step, y: e.delta });
  if (e.noiseUpdated && typeof e.noiseC === "number")
    series.cUpdates.push({ x: e.step, y: e.delta, c: e.noiseC });
  series.gradNorm.push({ x: e.step, y: e.gradNorm });
  series.throughput.push({ x: e.step, y: e.throughput });
}

/** `stepsDone`: steps trained when the epoch ended (last step + 1). */
export function appendEpoch(series: LiveSeries, e: EpochEvent, stepsDone: number): void {
  series.trainAcc.push({ x: stepsDone, y: e.trainAccuracy });
  series.testAcc.push({ x: stepsDone, y: e.testAccuracy });
}

/**
 * Of the events that arrived while the history was loading, those it does
 * not already hold: steps after its last step, epochs after its last epoch.
 */
export function eventsAfter(events: TrainEvent[], history: History): TrainEvent[] {
  return events.filter((e) => {
    if (e.type === "step") return e.step > history.lastStep;
    if (e.type === "epoch") return e.epoch >= history.epochsDone;
    return true;
  });
}

const EPOCH_TARGETS = new Set<keyof LiveSeries>(["trainAcc", "testAcc"]);

/**
 * Drops what a resumed run trains again: from step `step` on (epoch points
 * sit at the step count when their epoch ended, so one at exactly `step`
 * belongs to the epoch kept).
 */
export function truncateFrom(series: LiveSeries, step: number): void {
  for (const k of Object.keys(series) as (keyof LiveSeries)[]) {
    const keep = EPOCH_TARGETS.has(k)
      ? series[k].filter((p) => p.x <= step)
      : series[k].filter((p) => p.x < step);
    series[k].length = 0;
    series[k].push(...keep);
  }
}

/**
 * Fills the hole between a re-attached view's history and its first live
 * event (the steps trained while the page was away, not yet written to the
 * library when the history was read): the library's points before `cut`
 * (the first live step), then the live points from it on.
 */
export function fillGap(series: LiveSeries, fresh: LiveSeries, cut: number): void {
  for (const k of Object.keys(series) as (keyof LiveSeries)[]) {
    const epochKey = EPOCH_TARGETS.has(k);
    const before = fresh[k].filter((p) => (epochKey ? p.x <= cut : p.x < cut));
    const after = series[k].filter((p) => (epochKey ? p.x > cut : p.x >= cut));
    series[k].length = 0;
    series[k].push(...before, ...after);
  }
}
