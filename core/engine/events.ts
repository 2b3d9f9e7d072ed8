/**
 * What a training run reports, as plain JSON-serialisable objects: the CLI
 * prints them as JSON lines, the worker sends them over IPC, the store and the
 * app consume them. The spec schema and the event types are declared in
 * core/api (spec.ts, events.ts: no TensorFlow.js there) and re-exported here;
 * the error class is this module's.
 */
import type { StepEvent, TrainingErrorCode } from "../api/events.js";

export {
  type CheckpointEvent,
  type EpochEvent,
  type ErrorEvent,
  INTERRUPTING_ERRORS,
  type NoiseEvent,
  type RemoteEvent,
  type SharpnessEvent,
  type StartEvent,
  type StateEvent,
  type StepEvent,
  type SummaryEvent,
  type TrainEvent,
  type TrainingErrorCode,
} from "../api/events.js";
export { type TrainSpec, type TrainSpecInput, TrainSpecSchema } from "../api/spec.js";

export class TrainingError extends Error {
  constructor(
    readonly code: TrainingErrorCode,
    message: string,
    readonly at: { step?: number; epoch?: number } = {},
  ) {
    super(message);
    this.name = "TrainingError";
  }
}

/**
 * A step's smoothing fields, the same in every engine: the scheduled delta /
 * delta_0 (LR and batch alone), the measured delta lr * C / sqrt(b) once C is
 * estimated (else the scheduled one), the running C, and whether a new
 * observation moved C at this step (delta steps there even at constant LR and batch).
 */
export function stepDeltaFields(
  lr: number,
  batchSize: number,
  scheduled: number,
  c: number | undefined,
  observed: boolean,
): Pick<StepEvent, "delta" | "deltaMethod" | "deltaScheduled" | "noiseC" | "noiseUpdated"> {
  return {
    delta: c === undefined ? scheduled : (lr * c) / Math.sqrt(batchSize),
    deltaMethod: c === undefined ? "relative" : "two-batch-estimate",
    deltaScheduled: scheduled,
    noiseC: c ?? null,
    noiseUpdated: observed && c !== undefined,
  };
}
