/**
 * The last/best table of grouped runs: per group and metric, the mean and
 * the standard deviation (sample, n - 1) over the group's runs of their last
 * and best values, in the group's colour.
 */
import type { BestMode, MetricRow } from "./stats";

export interface GroupMetricRow {
  group: string;
  color: string;
  key: string;
  mode: BestMode;
  /** Runs with a value. */
  runs: number;
  last: MeanStd;
  best: MeanStd;
}

export interface MeanStd {
  mean: number | null;
  /** null with fewer than 2 values. */
  std: number | null;
}

export function meanStd(values: readonly number[]): MeanStd {
  const xs = values.filter((v) => Number.isFinite(v));
  if (xs.length === 0) return { mean: null, std: null };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean, std: null };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, std: Math.sqrt(v) };
}

/** Rows of runs (one per run and key) folded into one per group and key, in first-seen order. */
export function groupRows(
  rows: readonly MetricRow[],
  groupOf: (runId: string) => { label: string; color: string } | undefined,
): GroupMetricRow[] {
  const acc = new Map<string, { row: GroupMetricRow; last: number[]; best: number[] }>();
  for (const r of rows) {
    const g = groupOf(r.runId);
    if (!g) continue;
    const id = `${g.label}\u0000${r.key}`;
    let a = acc.get(id);
    if (!a) {
      a = {
        row: {
          group: g.label,
          color: g.color,
          key: r.key,
          mode: r.mode,
          runs: 0,
          last: { mean: null, std: null },
          best: { mean: null, std: null },
        },
        last: [],
        best: [],
      };
      acc.set(id, a);
    }
    a.row.runs++;
    if (r.last !== null) a.last.push(r.last);
    if (r.best !== null) a.best.push(r.best);
  }
  return [...acc.values()].map((a) => ({ ...a.row, last: meanStd(a.last), best: meanStd(a.best) }));
}
