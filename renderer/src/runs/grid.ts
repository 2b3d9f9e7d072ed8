/**
 * Grouping runs into one line with a band: every run is interpolated
 * linearly onto one common, evenly spaced x grid, and at each grid point the
 * runs that cover it give a mean, their min and max, and their standard
 * deviation (sample, n - 1). A run covers the x range from its first to its
 * last finite point; outside it, it does not count (so `count` says how many
 * runs a point stands on: fewer at the end when one seed stopped early).
 */

export interface XY {
  /** Ascending (non-decreasing) x. */
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
}

export type BandKind = "minmax" | "std";

export interface Aggregate {
  x: number[];
  mean: number[];
  /** The band: min/max, or mean -/+ std, depending on the kind asked for. */
  lo: number[];
  hi: number[];
  min: number[];
  max: number[];
  std: number[];
  count: number[];
}

/** `points` evenly spaced values from the lowest to the highest x of the series (or over `range`). */
export function commonGrid(series: XY[], points: number, range?: [number, number]): number[] {
  let x0 = Number.POSITIVE_INFINITY;
  let x1 = Number.NEGATIVE_INFINITY;
  if (range) [x0, x1] = range;
  else
    for (const s of series) {
      const [a, b] = finiteRange(s);
      if (a < x0) x0 = a;
      if (b > x1) x1 = b;
    }
  if (!(x0 <= x1)) return [];
  const n = Math.max(2, Math.floor(points));
  if (x0 === x1) return [x0];
  const grid = new Array<number>(n);
  for (let i = 0; i < n; i++) grid[i] = x0 + ((x1 - x0) * i) / (n - 1);
  grid[n - 1] = x1;
  return grid;
}

/** The x of a series' first and last finite point ([Infinity, -Infinity] when none). */
function finiteRange(s: XY): [number, number] {
  let a = Number.POSITIVE_INFINITY;
  let b = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < s.xs.length; i++) {
    if (Number.isFinite(s.ys[i]) && Number.isFinite(s.xs[i])) {
      a = s.xs[i] as number;
      break;
    }
  }
  for (let i = s.xs.length - 1; i >= 0; i--) {
    if (Number.isFinite(s.ys[i]) && Number.isFinite(s.xs[i])) {
      b = s.xs[i] as number;
      break;
    }
  }
  return [a, b];
}

/**
 * The series' values at each grid x (ascending), linearly interpolated; NaN
 * outside the series or next to a gap. Equal x (several points at one x):
 * the last of them counts. One pass over the series and the grid.
 */
export function interpolate(s: XY, grid: ArrayLike<number>): number[] {
  const out = new Array<number>(grid.length).fill(Number.NaN);
  const n = s.xs.length;
  if (n === 0) return out;
  let j = 0;
  for (let g = 0; g < grid.length; g++) {
    const x = grid[g] as number;
    // Advance j to the last point with xs[j] <= x.
    while (j + 1 < n && (s.xs[j + 1] as number) <= x) j++;
    const xj = s.xs[j] as number;
    if (xj > x) continue; // before the first point
    const yj = s.ys[j] as number;
    if (xj === x) {
      out[g] = Number.isFinite(yj) ? yj : Number.NaN;
      continue;
    }
    if (j + 1 >= n) continue; // after the last point
    const xk = s.xs[j + 1] as number;
    const yk = s.ys[j + 1] as number;
    if (!Number.isFinite(yj) || !Number.isFinite(yk)) continue;
    out[g] = yj + ((yk - yj) * (x - xj)) / (xk - xj);
  }
  return out;
}

/** Mean and band of several series on a common grid of `points` x values. */
export function aggregate(
  series: XY[],
  options: { points?: number; band?: BandKind; grid?: number[] } = {},
): Aggregate {
  const grid = options.grid ?? commonGrid(series, options.points ?? 500);
  const values = series.map((s) => interpolate(s, grid));
  const out: Aggregate = {
    x: [],
    mean: [],
    lo: [],
    hi: [],
    min: [],
    max: [],
    std: [],
    count: [],
  };
  for (let g = 0; g < grid.length; g++) {
    let n = 0;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const v of values) {
      const y = v[g] as number;
      if (!Number.isFinite(y)) continue;
      n++;
      sum += y;
      if (y < min) min = y;
      if (y > max) max = y;
    }
    if (n === 0) continue;
    const mean = sum / n;
    let ss = 0;
    for (const v of values) {
      const y = v[g] as number;
      if (Number.isFinite(y)) ss += (y - mean) ** 2;
    }
    const std = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
    out.x.push(grid[g] as number);
    out.mean.push(mean);
    out.min.push(min);
    out.max.push(max);
    out.std.push(std);
    out.count.push(n);
    if (options.band === "std") {
      out.lo.push(mean - std);
      out.hi.push(mean + std);
    } else {
      out.lo.push(min);
      out.hi.push(max);
    }
  }
  return out;
}
