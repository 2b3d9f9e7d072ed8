/**
 * Batch-size families. Batch sizes change only at epoch boundaries, are whole
 * numbers, optionally multiples of `roundTo`, and are capped by `max` and by
 * the dataset size.
 */
import { interpolate, prefixCount } from "./keyframes.js";
import type { BatchSpec } from "./spec.js";

const EPS = 1e-9;

/** The unrounded batch size a family gives at (integer) epoch e of an E-epoch run. */
export function rawBatchAt(spec: BatchSpec, e: number, totalEpochs: number): number {
  switch (spec.kind) {
    case "constant":
      return spec.size;
    case "step":
      return spec.size * spec.factor ** Math.floor(e / spec.every + EPS);
    case "multistep": {
      const ms = spec.milestones;
      const passed = prefixCount(ms.length, (i) => e + EPS >= (ms[i] as number));
      return spec.size * spec.factor ** passed;
    }
    case "exponential":
      return spec.size * spec.rate ** e;
    case "polynomial": {
      const span = spec.epochs ?? totalEpochs;
      return spec.size + (spec.end - spec.size) * (Math.min(e, span) / span) ** spec.power;
    }
    case "keyframes":
      return interpolate(spec.points, spec.interpolation, e);
  }
}

export interface BatchLimits {
  roundTo?: number | undefined;
  max?: number | undefined;
  datasetSize: number;
}

export type BatchCap = "max" | "dataset" | null;

/** Round and cap a raw batch size; reports which cap (if any) applied. */
export function finalizeBatch(raw: number, limits: BatchLimits): { size: number; cap: BatchCap } {
  const multiple = limits.roundTo ?? 1;
  let size = Math.max(multiple, Math.round(raw / multiple) * multiple);
  let cap: BatchCap = null;
  if (limits.max !== undefined && size > limits.max) {
    size = limits.max;
    cap = "max";
  }
  if (size > limits.datasetSize) {
    size = limits.datasetSize;
    cap = "dataset";
  }
  return { size, cap };
}
