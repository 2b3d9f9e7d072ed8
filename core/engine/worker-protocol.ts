/** Messages between a host and its training worker process. */
import type { SharpnessSettingsInput } from "../api/sharpness.js";
import type { ErrorEvent, SummaryEvent, TrainEvent, TrainSpecInput } from "./events.js";

export type ParentMessage =
  | { type: "start"; spec: TrainSpecInput; resumeFrom?: string }
  /** Measure sharpness at a checkpoint instead of training (sharpness-checkpoint.ts); "stop" abandons it. */
  | {
      type: "sharpness";
      spec: TrainSpecInput;
      checkpoint: string;
      settings: SharpnessSettingsInput;
    }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "stop" };

export type WorkerMessage =
  | { type: "event"; event: TrainEvent }
  | { type: "done"; summary: SummaryEvent }
  | { type: "failed"; error: Omit<ErrorEvent, "type"> };
