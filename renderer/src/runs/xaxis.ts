/**
 * The x axes of the comparison view. When the runs' batch schedules differ,
 * step counts are not comparable (a run with a growing batch takes fewer
 * steps per epoch), so the default is samples seen; otherwise steps.
 */
import { stableStringify } from "./specdiff";
import type { XAxis } from "./types";

export const X_AXES: readonly { id: XAxis; label: string }[] = [
  { id: "step", label: "step" },
  { id: "epoch", label: "epoch" },
  { id: "samples", label: "samples seen" },
  { id: "wallTime", label: "wall time (s)" },
];

export function xLabel(x: string): string {
  return X_AXES.find((a) => a.id === x)?.label ?? x;
}

/** What decides a run's batch sizes: its schedule's batch lane (or its smoothing-first design). */
export function batchSignature(spec: unknown): string {
  const schedule = (spec as { schedule?: Record<string, unknown> } | null)?.schedule;
  if (!schedule || typeof schedule !== "object") return "null";
  return stableStringify(schedule.batch ?? schedule.smoothing ?? null);
}

export function defaultXAxis(runs: { spec: unknown }[]): XAxis {
  const sigs = new Set(runs.map((r) => batchSignature(r.spec)));
  return sigs.size > 1 ? "samples" : "step";
}
