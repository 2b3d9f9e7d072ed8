/**
 * What the Sweeps view shows, computed from `sweeps.get` and metric series:
 * members grouped by every axis but the seed (mean +- std of final test
 * accuracy), the axis that colors the plots, and the compute-matched table
 * (each configuration's test accuracy at the same number of samples or
 * epochs, the smallest any of them reached).
 */
import type { SweepMember } from "../../../core/api/sweep";

export interface MemberGroup {
  key: string;
  label: string;
  values: Record<string, unknown>;
  members: SweepMember[];
  /** Final test accuracy over the group's completed members (seeds). */
  mean: number | null;
  std: number | null;
  n: number;
}

const show = (v: unknown): string =>
  typeof v === "object" && v !== null
    ? String((v as { name?: unknown }).name ?? "{...}")
    : String(v);

/** "lr=0.1 batchSize=32" (the seed left out). */
export function configLabel(values: Record<string, unknown>): string {
  return Object.entries(values)
    .filter(([k]) => k !== "seed")
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(" ");
}

export function groupBySeed(members: readonly SweepMember[]): MemberGroup[] {
  const groups = new Map<string, MemberGroup>();
  for (const m of members) {
    const label = configLabel(m.values);
    let g = groups.get(label);
    if (!g) {
      const { seed: _seed, ...values } = m.values;
      g = {
        key: label,
        label: label || "(base)",
        values,
        members: [],
        mean: null,
        std: null,
        n: 0,
      };
      groups.set(label, g);
    }
    g.members.push(m);
  }
  for (const g of groups.values()) {
    const acc = g.members
      .filter((m) => m.status === "completed" && m.finalTestAccuracy !== null)
      .map((m) => m.finalTestAccuracy as number);
    g.n = acc.length;
    if (acc.length) {
      const mean = acc.reduce((a, b) => a + b, 0) / acc.length;
      g.mean = mean;
      g.std =
        acc.length > 1
          ? Math.sqrt(acc.reduce((a, b) => a + (b - mean) ** 2, 0) / (acc.length - 1))
          : 0;
    }
  }
  return [...groups.values()];
}

/** The axis that colors the plots: the schedule when swept, else the first non-numeric-grid axis, else the batch size. */
export function colorAxis(axes: readonly string[]): string | null {
  if (axes.includes("schedule")) return "schedule";
  const other = axes.find((a) => !["lr", "batchSize", "delta"].includes(a));
  if (other) return other;
  if (axes.includes("batchSize")) return "batchSize";
  return axes[0] ?? null;
}

export function colorValue(values: Record<string, unknown>, axis: string | null): string {
  return axis === null ? "all" : show(values[axis]);
}

/** The last value at or before `budget` on an increasing x (null when none). */
export function valueAt(
  xs: readonly number[],
  ys: readonly number[],
  budget: number,
): number | null {
  let found: number | null = null;
  for (let i = 0; i < xs.length; i++) {
    if ((xs[i] as number) <= budget * (1 + 1e-9)) found = ys[i] as number;
    else break;
  }
  return found;
}

export interface MatchedRow {
  label: string;
  /** Mean over the group's members of the test accuracy at the budget. */
  accuracy: number | null;
  members: number;
}

/**
 * Compute-matched comparison: the budget is the least x (samples or epochs)
 * every member with a series reached; each group's accuracy at that budget.
 */
export function computeMatched(
  groups: readonly MemberGroup[],
  series: ReadonlyMap<string, { xs: number[]; values: number[] }>,
): { budget: number | null; rows: MatchedRow[] } {
  const ends = [...series.values()]
    .filter((s) => s.xs.length > 0)
    .map((s) => s.xs.at(-1) as number);
  if (!ends.length) return { budget: null, rows: [] };
  const budget = Math.min(...ends);
  const rows = groups.map((g) => {
    const vals = g.members
      .map((m) => series.get(m.runId))
      .filter((s): s is { xs: number[]; values: number[] } => !!s && s.xs.length > 0)
      .map((s) => valueAt(s.xs, s.values, budget))
      .filter((v): v is number => v !== null);
    return {
      label: g.label,
      accuracy: vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null,
      members: vals.length,
    };
  });
  return { budget, rows };
}

export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m > 0
      ? `${m}m${String(s % 60).padStart(2, "0")}s`
      : `${s}s`;
}
