/**
 * The paper's view (docs/paper.md, section 1): final test accuracy against
 * the degree of smoothing delta = lr * C / sqrt(b), one point per run. Delta
 * is taken at the end of training or averaged over it (a trapezoid average
 * over steps, so a stretch of training weighs by its number of updates).
 */

export type DeltaMode = "final" | "mean";

/** The trapezoid average of y over x (x ascending); null with no finite points. */
export function trapezoidMean(xs: ArrayLike<number>, ys: ArrayLike<number>): number | null {
  let area = 0;
  let span = 0;
  let px = Number.NaN;
  let py = Number.NaN;
  let only: number | null = null;
  for (let i = 0; i < ys.length; i++) {
    const x = xs[i] as number;
    const y = ys[i] as number;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (only === null) only = y;
    if (Number.isFinite(px) && x > px) {
      area += ((y + py) / 2) * (x - px);
      span += x - px;
    }
    px = x;
    py = y;
  }
  if (only === null) return null;
  return span > 0 ? area / span : only;
}

/** Delta of a run from its delta series (x = step): the last value, or the average over training. */
export function deltaOf(
  s: { xs: ArrayLike<number>; values: ArrayLike<number> },
  mode: DeltaMode,
): number | null {
  if (mode === "mean") return trapezoidMean(s.xs, s.values);
  for (let i = s.values.length - 1; i >= 0; i--) {
    const v = s.values[i] as number;
    if (Number.isFinite(v)) return v;
  }
  return null;
}

export interface DeltaPoint {
  runId: string;
  label: string;
  delta: number;
  accuracy: number;
}

/**
 * Points for runs that have both a delta and a final test accuracy; the rest
 * are returned by id as `missing` so the view can say which were left out.
 */
export function deltaPoints(
  runs: { id: string; label: string; accuracy: number | null }[],
  deltas: Map<string, { xs: ArrayLike<number>; values: ArrayLike<number> }>,
  mode: DeltaMode,
): { points: DeltaPoint[]; missing: string[] } {
  const points: DeltaPoint[] = [];
  const missing: string[] = [];
  for (const r of runs) {
    const s = deltas.get(r.id);
    const d = s ? deltaOf(s, mode) : null;
    if (d === null || r.accuracy === null || !Number.isFinite(r.accuracy)) missing.push(r.id);
    else points.push({ runId: r.id, label: r.label, delta: d, accuracy: r.accuracy });
  }
  return { points, missing };
}
