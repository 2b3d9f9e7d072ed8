/**
 * The paper's Figure 3 in Compare: a run's final sharpness (docs/sharpness.md)
 * against its delta and its test accuracy. The value and its settings come
 * from the run's environment (`sharpness`: every measurement, appended in
 * order); the final one of a key is the one measured at the latest epoch,
 * the latest measurement among those.
 */
import type { SharpnessKey, SharpnessRecord } from "../../../core/api/sharpness";
import type { DeltaPoint } from "./paper";
import type { Run } from "./types";

export const SHARPNESS_CHOICES: readonly { key: SharpnessKey; label: string }[] = [
  { key: "sharpness", label: "adaptive (‖d/|w|‖∞ ≤ ρ)" },
  { key: "sharpnessL2", label: "plain L2 (‖d‖₂ ≤ ρ)" },
  { key: "sharpnessOneStep", label: "one-step estimate" },
];

/** The measurements a run recorded (none when it has no `sharpness` list). */
export function sharpnessRecords(run: Pick<Run, "environment">): SharpnessRecord[] {
  const list = run.environment?.sharpness;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (r): r is SharpnessRecord =>
      typeof r === "object" &&
      r !== null &&
      typeof (r as SharpnessRecord).key === "string" &&
      typeof (r as SharpnessRecord).value === "number" &&
      Number.isFinite((r as SharpnessRecord).value),
  );
}

/** The final measurement of `key`: at the latest epoch, the last one recorded there. */
export function finalSharpness(
  run: Pick<Run, "environment">,
  key: SharpnessKey,
): SharpnessRecord | null {
  let best: SharpnessRecord | null = null;
  for (const r of sharpnessRecords(run)) {
    if (r.key !== key) continue;
    if (!best || r.epoch >= best.epoch) best = r;
  }
  return best;
}

/** What a value was measured with, in a few words (a tooltip, the table). */
export function sharpnessSettings(r: SharpnessRecord): string {
  const set = r.adaptive
    ? `‖d/|w|‖${r.norm === "linf" ? "∞" : "₂"}`
    : `‖d‖${r.norm === "linf" ? "∞" : "₂"}`;
  return `${set} ≤ ${r.rho}, ${r.iterations} it., ${r.examples} ex. (batch ${r.batchSize}), seed ${r.seed}`;
}

export interface SharpnessPoint {
  runId: string;
  label: string;
  sharpness: number;
  record: SharpnessRecord;
  /** From the delta view's points: null when the run has no delta or no test accuracy. */
  delta: number | null;
  accuracy: number | null;
}

/**
 * One point per run with a final value of `key`; delta and accuracy from the
 * delta view's points (runs without them still have a row in the table).
 * `settings` lists the distinct settings among the points: more than one means
 * the values are not comparable as they stand.
 */
export function sharpnessPoints(
  runs: readonly Run[],
  key: SharpnessKey,
  deltaPoints: readonly DeltaPoint[],
  label: (run: Run) => string,
): { points: SharpnessPoint[]; without: string[]; settings: string[] } {
  const byRun = new Map(deltaPoints.map((p) => [p.runId, p]));
  const points: SharpnessPoint[] = [];
  const without: string[] = [];
  const settings = new Set<string>();
  for (const run of runs) {
    const record = finalSharpness(run, key);
    if (!record) {
      without.push(run.id);
      continue;
    }
    const d = byRun.get(run.id);
    settings.add(sharpnessSettings(record));
    points.push({
      runId: run.id,
      label: label(run),
      sharpness: record.value,
      record,
      delta: d?.delta ?? null,
      accuracy: d?.accuracy ?? run.final?.testAccuracy ?? null,
    });
  }
  return { points, without, settings: [...settings] };
}
