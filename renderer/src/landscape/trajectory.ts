/** Reading the experiment's per-epoch records at a fractional time (epochs). */

/** The iterate at time t (epochs) from [x_0, y_0, ..., x_E, y_E], linearly between epoch boundaries. */
export function positionAt(track: number[], t: number): [number, number] {
  const last = track.length / 2 - 1;
  const c = Math.min(Math.max(t, 0), last);
  const i = Math.min(Math.floor(c), last - 1);
  if (i < 0) return [track[0] ?? 0, track[1] ?? 0];
  const f = c - i;
  const x0 = track[2 * i] ?? 0;
  const y0 = track[2 * i + 1] ?? 0;
  const x1 = track[2 * i + 2] ?? x0;
  const y1 = track[2 * i + 3] ?? y0;
  return [x0 + (x1 - x0) * f, y0 + (y1 - y0) * f];
}

/** The value of a per-epoch series during epoch floor(t) (the last epoch's at the very end). */
export function perEpochAt(series: number[], t: number): number {
  const e = Math.min(Math.max(Math.floor(t), 0), series.length - 1);
  return series[e] ?? Number.NaN;
}

/** Distance to the nearest of the minima. */
export function distanceTo(minima: [number, number][], x: number, y: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (const [mx, my] of minima) best = Math.min(best, Math.hypot(x - mx, y - my));
  return best;
}
