/**
 * An in-process Service whose runs train in real worker processes (the
 * launcher every host uses), with what tests wait for and read: the run's
 * final status, its sharpness events.
 */
import type { ServiceEvent } from "../../core/api/contract.js";
import type { SharpnessEvent, TrainEvent } from "../../core/engine/events.js";
import { startTraining } from "../../core/engine/worker-client.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";

export function serviceAt(home: string) {
  const events: ServiceEvent[] = [];
  const service = new Service({ home, runs: runMethods({ home, launch: startTraining }) });
  service.on((e) => events.push(e));
  /** Resolves with the run's status once it is final. */
  const finished = (id: string) =>
    new Promise<string>((resolve) => {
      service.on((e) => {
        if (
          e.type === "run.status" &&
          e.runId === id &&
          ["completed", "stopped", "failed", "interrupted"].includes(e.status)
        )
          resolve(e.status);
      });
    });
  return { service, events, finished };
}

/** A run's sharpness events, in order. */
export function sharpnessEvents(events: ServiceEvent[], id: string): SharpnessEvent[] {
  return events
    .filter((e) => e.type === "run.event" && e.runId === id)
    .map((e) => (e as { event: TrainEvent }).event)
    .filter((e): e is SharpnessEvent => e.type === "sharpness");
}
