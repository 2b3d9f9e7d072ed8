/**
 * What a comparison chart draws, built from the runs' series: per run a
 * faint raw line under its smoothed line (TensorBoard's look), or per group
 * a band (min/max or mean +- std) under the mean of the smoothed runs.
 */
import { withAlpha } from "./colors";
import { type Aggregate, aggregate, type BandKind, commonGrid } from "./grid";
import { emaDebiased } from "./smoothing";

export interface Point {
  x: number;
  y: number;
}

export interface ChartLine {
  label: string;
  color: string;
  points: Point[];
  width?: number;
  /** Fill down to the previous line (the upper edge of a band). */
  fillPrevious?: boolean;
  /** Left out of tooltips (faint raw lines, band edges). */
  quiet?: boolean;
  /** Drawn beneath every other line, without hover (a run's faint raw line). */
  underlay?: boolean;
  dashed?: boolean;
  /** The run (or "group:<label>") the line belongs to: hovering highlights all its lines. */
  runId?: string;
}

export interface RunSeries {
  runId: string;
  label: string;
  color: string;
  xs: ArrayLike<number>;
  values: ArrayLike<number>;
  steps: ArrayLike<number>;
}

/** Raw opacity: faint enough to read the smoothed line over it. */
export const RAW_ALPHA = 0.22;

/** {x, y} points, leaving out what cannot be drawn (non-finite; y <= 0 on a log axis). */
export function zip(xs: ArrayLike<number>, ys: ArrayLike<number>, positiveOnly = false): Point[] {
  const out: Point[] = [];
  for (let i = 0; i < ys.length; i++) {
    const x = xs[i] as number;
    const y = ys[i] as number;
    if (!Number.isFinite(x) || !Number.isFinite(y) || (positiveOnly && y <= 0)) continue;
    out.push({ x, y });
  }
  return out;
}

/**
 * Points already built, by the values array they came from: a smoothing change re-zips only the
 * smoothed lines, not the raw ones (series from the library are never changed in place).
 */
const rawCache = [new WeakMap<object, Point[]>(), new WeakMap<object, Point[]>()];
const smoothCache = [
  new WeakMap<object, { weight: number; points: Point[] }>(),
  new WeakMap<object, { weight: number; points: Point[] }>(),
];

function rawPoints(s: RunSeries, logY: boolean): Point[] {
  const cache = rawCache[logY ? 1 : 0] as WeakMap<object, Point[]>;
  let p = cache.get(s.values as object);
  if (!p) {
    p = zip(s.xs, s.values, logY);
    cache.set(s.values as object, p);
  }
  return p;
}

function smoothPoints(s: RunSeries, weight: number, logY: boolean, max: number): Point[] {
  const cache = smoothCache[logY ? 1 : 0] as WeakMap<
    object,
    { weight: number; max: number; points: Point[] }
  >;
  const hit = cache.get(s.values as object);
  if (hit && hit.weight === weight && hit.max === max) return hit.points;
  const points = thin(zip(s.xs, emaDebiased(s.values, weight), logY), max);
  cache.set(s.values as object, { weight, max, points });
  return points;
}

/**
 * Every k-th point and the last, k the least that leaves at most `max` (all when they fit). The
 * smoothed line needs no more than one point per pixel (it is smooth); the raw line keeps every
 * point, as its min/max envelope shows the noise within each pixel.
 */
export function thin(points: Point[], max: number): Point[] {
  if (!(max >= 2) || points.length <= max) return points;
  const k = Math.ceil((points.length - 1) / (max - 1));
  const out: Point[] = [];
  for (let i = 0; i < points.length - 1; i += k) out.push(points[i] as Point);
  out.push(points[points.length - 1] as Point);
  return out;
}

export interface LineOptions {
  weight: number;
  logY?: boolean;
  /** At most this many points in a smoothed line (default: all). */
  maxSmoothed?: number;
}

/** Per run: with smoothing, the raw line faint and the smoothed line on top; without, the raw line. */
export function runLines(series: RunSeries[], o: LineOptions): ChartLine[] {
  const lines: ChartLine[] = [];
  for (const s of series) {
    if (o.weight > 0) {
      lines.push({
        label: `${s.label} (raw)`,
        color: withAlpha(s.color, RAW_ALPHA),
        points: rawPoints(s, o.logY === true),
        width: 1,
        quiet: true,
        underlay: true,
        runId: s.runId,
      });
      lines.push({
        label: s.label,
        color: s.color,
        points: smoothPoints(
          s,
          o.weight,
          o.logY === true,
          o.maxSmoothed ?? Number.POSITIVE_INFINITY,
        ),
        width: 1.6,
        runId: s.runId,
      });
    } else
      lines.push({
        label: s.label,
        color: s.color,
        points: rawPoints(s, o.logY === true),
        runId: s.runId,
      });
  }
  return lines;
}

export interface GroupInput {
  label: string;
  color: string;
  series: RunSeries[];
}

export interface GroupResult {
  label: string;
  color: string;
  runs: number;
  /** Mean and band of the smoothed runs. */
  smoothed: Aggregate;
  /** Mean of the raw runs (drawn faint), when smoothing is on. */
  raw: Aggregate | null;
}

/** Aggregates every group on one grid per group (its own x range), `points` wide. */
export function groupResults(
  groups: GroupInput[],
  o: LineOptions & { band: BandKind; points?: number },
): GroupResult[] {
  return groups.map((g) => {
    const raw = g.series.map((s) => ({ xs: s.xs, ys: s.values }));
    const grid = commonGrid(raw, o.points ?? 400);
    const smooth = g.series.map((s) => ({ xs: s.xs, ys: emaDebiased(s.values, o.weight) }));
    return {
      label: g.label,
      color: g.color,
      runs: g.series.length,
      smoothed: aggregate(smooth, { grid, band: o.band }),
      raw: o.weight > 0 ? aggregate(raw, { grid, band: o.band }) : null,
    };
  });
}

/** Per group: band edges (the upper one filled down to the lower), the faint raw mean, the mean. */
export function groupLines(results: GroupResult[], o: { logY?: boolean }): ChartLine[] {
  const lines: ChartLine[] = [];
  for (const g of results) {
    const a = g.smoothed;
    const name = `${g.label} (${g.runs} run${g.runs === 1 ? "" : "s"})`;
    const runId = groupId(g.label);
    lines.push({
      label: `${name} low`,
      color: withAlpha(g.color, 0),
      points: zip(a.x, a.lo, o.logY),
      width: 0,
      quiet: true,
      runId,
    });
    lines.push({
      label: `${name} high`,
      color: withAlpha(g.color, 0.18),
      points: zip(a.x, a.hi, o.logY),
      width: 0,
      fillPrevious: true,
      quiet: true,
      runId,
    });
    if (g.raw)
      lines.push({
        label: `${name} (raw mean)`,
        color: withAlpha(g.color, RAW_ALPHA),
        points: zip(g.raw.x, g.raw.mean, o.logY),
        width: 1,
        quiet: true,
        runId,
      });
    lines.push({
      label: name,
      color: g.color,
      points: zip(a.x, a.mean, o.logY),
      width: 1.8,
      runId,
    });
  }
  return lines;
}

/** The id hovering and highlighting use for a group's lines. */
export function groupId(label: string): string {
  return `group:${label}`;
}
