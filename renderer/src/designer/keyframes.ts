/**
 * Keyframe editing: add, move, delete and nudge points of a keyframes lane,
 * keeping what the schedule format requires (the first point at epoch 0,
 * epochs strictly increasing, values > 0), snapping to epoch boundaries when
 * asked; and turning a compiled lane (one value per epoch) into a few
 * keyframes that reproduce it.
 */
import type { Interpolation, Point } from "./types";

export interface KeyframeLimits {
  /** Length of the run: points stay in [0, epochs]. */
  epochs: number;
  /** Snap epochs to whole numbers (epoch boundaries). */
  snap: boolean;
  /** Round values to whole numbers (batch sizes). */
  integer?: boolean;
  /** Smallest value allowed (default: 1 for integers, else 1e-12). */
  minValue?: number;
  /** Keep the first point's value as it is (delta keyframes: the trajectory starts at 1). */
  pinFirstValue?: boolean;
}

/** The closest two points may come, in epochs. */
export function minGap(limits: KeyframeLimits): number {
  return limits.snap ? 1 : 1e-3;
}

export function snapEpoch(t: number, limits: KeyframeLimits): number {
  const clamped = Math.min(Math.max(t, 0), limits.epochs);
  if (limits.snap) return Math.round(clamped);
  // Keep three decimals: enough to place a point within an epoch, short in the saved file.
  return Math.round(clamped * 1000) / 1000;
}

export function clampValue(v: number, limits: KeyframeLimits): number {
  const floor = limits.minValue ?? (limits.integer ? 1 : 1e-12);
  let x = Number.isFinite(v) ? v : floor;
  if (limits.integer) x = Math.round(x);
  else x = Number(x.toPrecision(6));
  return Math.max(floor, x);
}

function copy(points: readonly Point[]): Point[] {
  return points.map((p) => ({ ...p }));
}

/**
 * Adds a point at (epoch, value). Returns the new list and the new point's
 * index, or null when the spot is taken (another point within the minimum gap)
 * or outside the run.
 */
export function addPoint(
  points: readonly Point[],
  epoch: number,
  value: number,
  limits: KeyframeLimits,
): { points: Point[]; index: number } | null {
  const t = snapEpoch(epoch, limits);
  const gap = minGap(limits);
  if (t <= 0 && points.length > 0) return null;
  if (points.some((p) => Math.abs(p.epoch - t) < gap - 1e-9)) return null;
  const next = copy(points);
  let index = next.findIndex((p) => p.epoch > t);
  if (index < 0) index = next.length;
  next.splice(index, 0, { epoch: t, value: clampValue(value, limits) });
  return { points: next, index };
}

/**
 * Moves point `index` towards (epoch, value). The first point stays at epoch 0;
 * the others stay strictly between their neighbours (they never cross), inside
 * [0, epochs].
 */
export function movePoint(
  points: readonly Point[],
  index: number,
  epoch: number,
  value: number,
  limits: KeyframeLimits,
): Point[] {
  const p = points[index];
  if (!p) return copy(points);
  const next = copy(points);
  const gap = minGap(limits);
  let t: number;
  if (index === 0) t = 0;
  else {
    const lo = (points[index - 1] as Point).epoch + gap;
    const hiNeighbour = points[index + 1];
    const hi = hiNeighbour ? hiNeighbour.epoch - gap : limits.epochs;
    t = snapEpoch(epoch, limits);
    if (lo > hi) t = p.epoch;
    else t = Math.min(Math.max(t, lo), hi);
    if (limits.snap && Math.ceil(lo) <= Math.floor(hi))
      t = Math.min(Math.max(Math.round(t), Math.ceil(lo)), Math.floor(hi));
  }
  const v = index === 0 && limits.pinFirstValue ? p.value : clampValue(value, limits);
  next[index] = { ...p, epoch: t, value: v };
  return next;
}

/** Removes point `index`; null when it cannot go (the first point, or the only one). */
export function deletePoint(points: readonly Point[], index: number): Point[] | null {
  if (index <= 0 || index >= points.length || points.length <= 1) return null;
  const next = copy(points);
  next.splice(index, 1);
  return next;
}

export type NudgeKey = "ArrowLeft" | "ArrowRight" | "ArrowUp" | "ArrowDown";

/**
 * Keyboard moves: left/right by one epoch (ten with `big`), up/down by 5%
 * (25% with `big`; at least one for whole-number values).
 */
export function nudgePoint(
  points: readonly Point[],
  index: number,
  key: NudgeKey,
  big: boolean,
  limits: KeyframeLimits,
): Point[] {
  const p = points[index];
  if (!p) return copy(points);
  const dt = big ? 10 : 1;
  const f = big ? 1.25 : 1.05;
  let { epoch, value } = p;
  if (key === "ArrowLeft") epoch -= dt;
  else if (key === "ArrowRight") epoch += dt;
  else {
    let v = key === "ArrowUp" ? value * f : value / f;
    if (limits.integer && Math.round(v) === value) v = value + (key === "ArrowUp" ? 1 : -1);
    value = v;
  }
  return movePoint(points, index, epoch, value, limits);
}

/**
 * A point to insert after point `index` (keyboard "add"): halfway to the next
 * point (or to the end of the run), on the curve between them.
 */
export function pointAfter(
  points: readonly Point[],
  index: number,
  interpolation: Interpolation,
  limits: KeyframeLimits,
): { epoch: number; value: number } | null {
  const a = points[index];
  if (!a) return null;
  const b = points[index + 1];
  const end = b ? b.epoch : limits.epochs;
  const epoch = limits.snap ? Math.floor((a.epoch + end) / 2) : (a.epoch + end) / 2;
  if (epoch - a.epoch < minGap(limits) || end - epoch < (b ? minGap(limits) : 0)) return null;
  if (!b) return { epoch, value: a.value };
  const kind = a.interpolation ?? interpolation;
  const f = (epoch - a.epoch) / (b.epoch - a.epoch);
  const value =
    kind === "hold"
      ? a.value
      : kind === "log"
        ? Math.exp(Math.log(a.value) + (Math.log(b.value) - Math.log(a.value)) * f)
        : kind === "cosine"
          ? b.value + ((a.value - b.value) * (1 + Math.cos(Math.PI * f))) / 2
          : a.value + (b.value - a.value) * f;
  return { epoch, value };
}

/**
 * Keyframes that reproduce a lane given one value per epoch (the compiled
 * table): `hold` points at each change when the lane is piecewise constant
 * with few changes (step schedules), else points on a log-linear curve kept
 * where the curve bends (Ramer-Douglas-Peucker on log values, 1% tolerance).
 * Values <= 0 (an LR that reached 0) become `floor`.
 */
export function keyframesFromValues(
  values: readonly number[],
  options: { floor?: number; maxHoldPoints?: number; tolerance?: number } = {},
): { points: Point[]; interpolation: Interpolation } {
  const floor = options.floor ?? 1e-8;
  const v = values.map((x) => (x > floor ? x : floor));
  if (v.length === 0) return { points: [{ epoch: 0, value: 1 }], interpolation: "hold" };
  const changes: Point[] = [{ epoch: 0, value: v[0] as number }];
  for (let e = 1; e < v.length; e++) {
    if (Math.abs((v[e] as number) - (v[e - 1] as number)) > 1e-12 * Math.abs(v[e - 1] as number))
      changes.push({ epoch: e, value: v[e] as number });
  }
  if (changes.length <= (options.maxHoldPoints ?? 24)) {
    return { points: changes, interpolation: "hold" };
  }
  const logs = v.map(Math.log);
  const keep = new Uint8Array(v.length);
  keep[0] = 1;
  keep[v.length - 1] = 1;
  const tol = Math.log(1 + (options.tolerance ?? 0.01));
  const stack: [number, number][] = [[0, v.length - 1]];
  while (stack.length > 0) {
    const [i, j] = stack.pop() as [number, number];
    let worst = -1;
    let at = -1;
    const a = logs[i] as number;
    const b = logs[j] as number;
    for (let k = i + 1; k < j; k++) {
      const line = a + ((b - a) * (k - i)) / (j - i);
      const d = Math.abs((logs[k] as number) - line);
      if (d > worst) {
        worst = d;
        at = k;
      }
    }
    if (at > 0 && worst > tol) {
      keep[at] = 1;
      stack.push([i, at], [at, j]);
    }
  }
  const points: Point[] = [];
  for (let e = 0; e < v.length; e++) if (keep[e]) points.push({ epoch: e, value: v[e] as number });
  return { points, interpolation: "log" };
}
