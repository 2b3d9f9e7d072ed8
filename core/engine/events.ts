/**
 * What a training run reports, as plain JSON-serialisable objects: the CLI
 * prints them as JSON lines, the worker sends them over IPC, the store and the
 * app consume them. The spec schema and the event types are declared in
 * core/api (spec.ts, events.ts: no TensorFlow.js there) and re-exported here;
 * the error class is this module's.
 */
import type { TrainingErrorCode } from "../api/events.js";

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
