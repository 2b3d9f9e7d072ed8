/**
 * Smoothing-first design: the user gives delta's trajectory relative to its
 * start, r(t) = delta(t) / delta(0), and the share of its decay taken by batch
 * growth. With split s, the batch follows b0 * r^(-2s) (rounded at epoch
 * boundaries) and the LR lr0 * r^(1-s), corrected by sqrt(b / b_ideal) when
 * rounding or a cap moved b, so lr / sqrt(b) equals lr0 * r / sqrt(b0).
 */
import { interpolate } from "./keyframes.js";
import type { DeltaSpec } from "./spec.js";

const EPS = 1e-9;

/** delta(t) / delta(0) at fractional epoch t of an E-epoch run. */
export function deltaRatioAt(spec: DeltaSpec, t: number, totalEpochs: number): number {
  switch (spec.kind) {
    case "stagewise":
      return spec.gamma ** Math.floor(t / spec.every + EPS);
    case "polynomial": {
      if (spec.stages !== undefined) {
        const m = Math.min(spec.stages - 1, Math.floor((t * spec.stages) / totalEpochs + EPS));
        return (1 - m / spec.stages) ** spec.power;
      }
      return Math.max(0, 1 - t / totalEpochs) ** spec.power;
    }
    case "keyframes": {
      const first = spec.points[0]?.value as number;
      return interpolate(spec.points, spec.interpolation, t) / first;
    }
  }
}

/** The batch size the split asks for at ratio r (before rounding and caps). */
export function splitBatch(b0: number, ratio: number, split: number): number {
  return b0 * ratio ** (-2 * split);
}

/**
 * The LR that keeps lr / sqrt(b) on the trajectory, given the batch actually
 * used. When rounding and caps left the batch where the split put it, this is
 * lr0 * r^(1 - s) (so split 1 keeps the LR exactly constant); otherwise the LR
 * absorbs the difference.
 */
export function splitLr(
  lr0: number,
  b0: number,
  ratio: number,
  split: number,
  batch: number,
): number {
  const ideal = splitBatch(b0, ratio, split);
  if (Math.abs(batch - ideal) <= 1e-13 * ideal) return lr0 * ratio ** (1 - split);
  return lr0 * ratio * Math.sqrt(batch / b0);
}
