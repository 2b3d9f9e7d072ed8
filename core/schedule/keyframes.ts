/** Interpolation between keyframes, shared by the LR, batch and delta lanes. */
import type { Interpolation } from "./spec.js";

export interface Keyframe {
  epoch: number;
  value: number;
  interpolation?: Interpolation | undefined;
}

/**
 * How many of the indices 0..n-1 satisfy `holds`, which must hold for a
 * prefix of them (sorted milestones, piece starts): a binary search, so a
 * long list costs log n per step instead of n.
 */
export function prefixCount(n: number, holds: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (holds(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Value of a keyframe curve at time t (epochs). Before the first point and after
 * the last, the curve holds the nearest value. The segment from point i to i+1
 * uses point i's interpolation, else the lane's.
 */
export function interpolate(points: readonly Keyframe[], lane: Interpolation, t: number): number {
  const first = points[0];
  if (!first) throw new Error("interpolate: no keyframes");
  if (t <= first.epoch) return first.value;
  // Binary search for the last point at or before t.
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((points[mid] as Keyframe).epoch <= t) lo = mid;
    else hi = mid - 1;
  }
  const a = points[lo] as Keyframe;
  const b = points[lo + 1];
  if (!b) return a.value;
  const f = (t - a.epoch) / (b.epoch - a.epoch);
  switch (a.interpolation ?? lane) {
    case "linear":
      return a.value + (b.value - a.value) * f;
    case "log":
      return Math.exp(Math.log(a.value) + (Math.log(b.value) - Math.log(a.value)) * f);
    case "cosine":
      return b.value + ((a.value - b.value) * (1 + Math.cos(Math.PI * f))) / 2;
    case "hold":
      return a.value;
  }
}
