/**
 * Which series smoothing applies to: noisy per-step scalars only (a
 * mini-batch's loss, the gradient norm, throughput). Never the schedule's own
 * values (LR, batch size: smoothing would draw a decay or a growth where a
 * step happened), delta or C (they follow the schedule and the estimate of C,
 * whose steps are the point), per-epoch evaluation metrics (one exact value an
 * epoch, not noise around a trend) or sharpness. As in TensorBoard and W&B, the
 * raw line stays drawn, faint, under a smoothed one.
 */
export const SMOOTHED_KEYS: readonly string[] = ["loss", "gradNorm", "throughput"];

export function isSmoothable(key: string): boolean {
  return SMOOTHED_KEYS.includes(key);
}

/** The smoothing weight a key's chart, table and CSV use: the chosen weight, or 0 when it is not smoothed. */
export function weightFor(key: string, weight: number): number {
  return isSmoothable(key) ? weight : 0;
}
