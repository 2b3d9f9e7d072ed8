/**
 * Turning the service's per-step series (x = step index) into what a lane
 * draws (x in the chosen unit), and the few numbers the page exposes about
 * what is drawn (data attributes the UI tests read).
 */
import type { Series } from "../../../core/api/contract";
import type { AxisUnit, TimeAxis } from "./axis";

export interface XY {
  x: number;
  y: number;
}

/**
 * A step series against the unit. The series ends at the last step's start; a
 * final point at the end of the run shows the last value until the end.
 * On a log axis, values <= 0 (an LR that reached 0) cannot be drawn and are left out.
 */
export function toUnitSeries(s: Series, axis: TimeAxis, unit: AxisUnit, log = false): XY[] {
  const out: XY[] = [];
  const n = Math.min(s.x.length, s.y.length);
  for (let i = 0; i < n; i++) {
    const y = s.y[i] as number;
    if (log && !(y > 0)) continue;
    const x = axis.fromEpoch(axis.toEpoch(s.x[i] as number, "steps"), unit);
    out.push({ x, y });
  }
  const last = out.at(-1);
  if (last) {
    const end = axis.end(unit);
    if (last.x < end) out.push({ x: end, y: last.y });
  }
  return out;
}

export interface SeriesStats {
  n: number;
  first: number;
  last: number;
  min: number;
  max: number;
  xMax: number;
}

export function seriesStats(points: readonly XY[]): SeriesStats | null {
  const first = points[0];
  const last = points.at(-1);
  if (!first || !last) return null;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let xMax = Number.NEGATIVE_INFINITY;
  for (const p of points) {
    if (p.y < min) min = p.y;
    if (p.y > max) max = p.y;
    if (p.x > xMax) xMax = p.x;
  }
  return { n: points.length, first: first.y, last: last.y, min, max, xMax };
}

/** A number as the page shows it exactly (tooltips, data attributes): up to 8 significant digits. */
export function exact(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(8)));
}

/** A number for labels: 4 significant digits, exponent notation when very small or large. */
export function short(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e6 ? String(Number(x.toPrecision(digits))) : x.toExponential(digits - 1);
}
