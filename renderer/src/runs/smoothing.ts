/**
 * TensorBoard's scalar smoothing: an exponential moving average with
 * debiasing. With weight w, s_n = w * s_{n-1} + (1 - w) * y_n from s_0 = 0,
 * shown as s_n / (1 - w^n): the first points are not pulled towards zero and
 * a constant series stays exactly constant. Points that are not finite are
 * passed through and do not advance the average (a gap stays a gap).
 *
 * The average runs over the points given: on a series downsampled by the
 * store it is an average over the plotted points, as in TensorBoard (which
 * smooths the points it sampled).
 */

/** The weight clamped to [0, 0.999] (1 would freeze the average at its first value). */
export function clampWeight(weight: number): number {
  if (!Number.isFinite(weight) || weight <= 0) return 0;
  return Math.min(weight, 0.999);
}

export function emaDebiased(values: ArrayLike<number>, weight: number): number[] {
  const w = clampWeight(weight);
  const n = values.length;
  const out = new Array<number>(n);
  if (w === 0) {
    for (let i = 0; i < n; i++) out[i] = values[i] as number;
    return out;
  }
  let last = 0;
  let wn = 1;
  for (let i = 0; i < n; i++) {
    const y = values[i] as number;
    if (!Number.isFinite(y)) {
      out[i] = y;
      continue;
    }
    last = last * w + (1 - w) * y;
    wn *= w;
    out[i] = last / (1 - wn);
  }
  return out;
}
