/**
 * The live run view's series: filled from a run's history (`runs.metrics`)
 * when the view re-attaches to a run that is already training, then extended
 * by the live events. Step metrics are plotted at their step; epoch metrics
 * at the number of steps done when the epoch ended (step + 1), as live.
 */
import type { EpochEvent, StepEvent, TrainEvent } from "../../../core/api/events";
import type { MetricSeries } from "./types";

export interface Pt {
  x: number;
  y: number;
}

export interface LiveSeries {
  loss: Pt[];
  lr: Pt[];
  batch: Pt[];
  delta: Pt[];
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
        }
      : null;
  return { series, lastStep, epochsDone, latest, lastTestAccuracy };
}

export function appendStep(series: LiveSeries, e: StepEvent): void {
  series.loss.push({ x: e.step, y: e.loss });
  series.lr.push({ x: e.step, y: e.lr });
  series.batch.push({ x: e.step, y: e.batchSize });
  series.delta.push({ x: e.step, y: e.delta });
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
