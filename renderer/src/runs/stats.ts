/**
 * The comparison table: a series' last value and its best (max for accuracy
 * and throughput keys, min otherwise, as the library decides) with the step
 * and x where it was first reached. On series the store downsampled both are
 * exact: min/max downsampling keeps every bucket's extremes and the last point.
 */

export type BestMode = "min" | "max";

/** The library's rule (core/store/queries.ts): accuracy and throughput are better high. */
export function bestMode(key: string): BestMode {
  return /acc|throughput/i.test(key) ? "max" : "min";
}

export interface SeriesLike {
  xs: ArrayLike<number>;
  values: ArrayLike<number>;
  steps: ArrayLike<number>;
}

export interface LastBest {
  last: number | null;
  lastStep: number | null;
  lastX: number | null;
  best: number | null;
  bestStep: number | null;
  bestX: number | null;
  /** Finite points looked at. */
  count: number;
}

export function lastAndBest(s: SeriesLike, mode: BestMode): LastBest {
  const out: LastBest = {
    last: null,
    lastStep: null,
    lastX: null,
    best: null,
    bestStep: null,
    bestX: null,
    count: 0,
  };
  for (let i = 0; i < s.values.length; i++) {
    const v = s.values[i] as number;
    if (!Number.isFinite(v)) continue;
    out.count++;
    out.last = v;
    out.lastStep = s.steps[i] as number;
    out.lastX = s.xs[i] as number;
    if (out.best === null || (mode === "max" ? v > out.best : v < out.best)) {
      out.best = v;
      out.bestStep = s.steps[i] as number;
      out.bestX = s.xs[i] as number;
    }
  }
  return out;
}

/**
 * The y range that leaves out the most extreme `q` of the values at each end
 * ("ignore outliers"): a loss spike at step 0 no longer flattens the rest.
 * Null when there are no finite values.
 */
export function robustRange(
  values: Iterable<number>,
  q = 0.01,
  positiveOnly = false,
): [number, number] | null {
  const v: number[] = [];
  for (const y of values) if (Number.isFinite(y) && (!positiveOnly || y > 0)) v.push(y);
  if (v.length === 0) return null;
  v.sort((a, b) => a - b);
  const at = (p: number) => v[Math.min(v.length - 1, Math.max(0, Math.round(p * (v.length - 1))))];
  let lo = at(q) as number;
  let hi = at(1 - q) as number;
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
    lo -= positiveOnly ? 0 : pad;
    hi += pad;
  } else {
    const pad = (hi - lo) * 0.05;
    if (!positiveOnly) lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

/** One line of the comparison table. */
export interface MetricRow {
  runId: string;
  label: string;
  color: string;
  key: string;
  last: number | null;
  lastStep: number | null;
  smoothedLast: number | null;
  best: number | null;
  bestStep: number | null;
  bestX: number | null;
  mode: BestMode;
}
