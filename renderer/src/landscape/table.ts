/**
 * The Landscape view's extras: its default comparison set (the service's own
 * when no schedules are given: core/landscape/experiment.ts
 * DEFAULT_SCHEDULE_NAMES, kept equal by a test, since the renderer does not
 * load core's code), the Designer's schedule added to it, and the success
 * table as CSV.
 */
import type { LandscapeExperiment } from "../../../core/landscape/params";
import { toCsv } from "../runs/csv";

export const DEFAULT_LANDSCAPE_SCHEDULES: readonly string[] = [
  "paper-constant",
  "constant-final-delta",
  "paper-lr-decay",
  "paper-batch-growth",
  "paper-hybrid",
  "poly-delta-0.5",
  "poly-delta-1",
];

/** The name the Designer's schedule has in the table (never a preset's, whatever the design is called). */
export function designerName(doc: { name?: string | undefined }): string {
  return `designer: ${doc.name?.trim() || "untitled"}`;
}

/** The experiment's schedules: the default set, and the Designer's document when given. */
export function landscapeSchedules(designed: Record<string, unknown> | null): unknown[] {
  if (!designed) return [...DEFAULT_LANDSCAPE_SCHEDULES];
  return [
    ...DEFAULT_LANDSCAPE_SCHEDULES,
    { ...designed, name: designerName(designed as { name?: string }) },
  ];
}

/** One line per schedule: the table's numbers at full precision. */
export function successCsv(r: Pick<LandscapeExperiment, "schedules" | "settings">): string {
  const header = [
    "schedule",
    "epochs",
    "updates",
    "delta_start",
    "delta_end",
    "final_lr",
    "final_batch",
    "seeds",
    "successes",
    "success_rate",
    "success_lo",
    "success_hi",
    "final_f_mean",
    "final_f_lo",
    "final_f_hi",
    "mean_final_distance",
  ];
  return toCsv(
    header,
    r.schedules.map((s) => [
      s.name,
      s.epochs,
      s.updates,
      s.deltaStart,
      s.deltaEnd,
      s.finalLr,
      s.finalBatch,
      s.success.n,
      s.success.successes,
      s.success.rate,
      s.success.lo,
      s.success.hi,
      s.finalValue.mean,
      s.finalValue.lo,
      s.finalValue.hi,
      s.meanFinalDistance,
    ]),
  );
}
