/**
 * The schedule document as the designer edits it: the JSON of docs/schedules.md,
 * loosely typed (lane specs are plain objects with a `kind`), because the
 * designer holds whatever a user typed or opened until the service validates it.
 */
import type { Interpolation } from "../../../core/schedule/spec";

export type LaneId = "lr" | "batch" | "delta";

/** A lane's spec: `{ kind, ...params }`, as in the schedule JSON. */
export interface Spec {
  kind: string;
  [param: string]: unknown;
}

export interface SmoothingDoc {
  delta: Spec;
  split: number;
  lr: number;
  batch: number;
  roundTo?: number;
  max?: number;
}

export interface Doc {
  version: 1;
  name?: string;
  description?: string;
  epochs: number;
  per?: "epoch" | "step";
  dropLast?: boolean;
  lr?: Spec;
  batch?: Spec;
  smoothing?: SmoothingDoc;
}

export interface Point {
  epoch: number;
  value: number;
  interpolation?: Interpolation;
}

export type { Interpolation };

/** A keyframe as a lane draws it: x in the axis unit, y as drawn, and its description. */
export interface Handle {
  x: number;
  y: number;
  label: string;
}
