/**
 * Smoothing-first design: the user gives delta's trajectory relative to its
 * start, r(t) = delta(t) / delta(0), and the share of its decay taken by batch
 * growth. With split s, the batch follows b0 * r^(-2s) (rounded at epoch
 * boundaries) and the LR is lr0 * r * sqrt(b / b0), so lr / sqrt(b) equals
 * lr0 * r / sqrt(b0) exactly, whatever rounding or caps did to b.
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
        const m = Math.min(
          spec.stages - 1,
          Math.floor((t * spec.stages) / totalEpochs + EPS),
        );
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

/** The LR that keeps lr / sqrt(b) on the trajectory, given the batch actually used. */
export function splitLr(lr0: number, b0: number, ratio: number, batch: number): number {
  return lr0 * ratio * Math.sqrt(batch / b0);
}
