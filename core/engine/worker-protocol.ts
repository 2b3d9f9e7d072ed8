/** Messages between a host and its training worker process. */
import type { ErrorEvent, SummaryEvent, TrainEvent, TrainSpecInput } from "./events.js";

export type ParentMessage =
  | { type: "start"; spec: TrainSpecInput; resumeFrom?: string }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "stop" };

export type WorkerMessage =
  | { type: "event"; event: TrainEvent }
  | { type: "done"; summary: SummaryEvent }
  | { type: "failed"; error: Omit<ErrorEvent, "type"> };
