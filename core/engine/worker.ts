/**
 * Entry point of the training worker process (child_process.fork here,
 * utilityProcess in Electron): runs one Trainer and relays its events over IPC,
 * so training never blocks the host's event loop.
 */
import { TrainingError } from "./events.js";
import { Trainer } from "./trainer.js";
import type { ParentMessage, WorkerMessage } from "./worker-protocol.js";

function send(message: WorkerMessage): void {
  process.send?.(message);
}

let trainer: Trainer | null = null;

process.on("message", (raw: unknown) => {
  const message = raw as ParentMessage;
  switch (message.type) {
    case "start":
      if (trainer) return;
      try {
        trainer = new Trainer(message.spec, (event) => send({ type: "event", event }), {
          resumeFrom: message.resumeFrom,
        });
      } catch (err) {
        fail(err);
        return;
      }
      trainer.run().then(
        (summary) => {
          send({ type: "done", summary });
          process.disconnect?.();
        },
        (err) => fail(err),
      );
      break;
    case "pause":
      trainer?.pause();
      break;
    case "resume":
      trainer?.resume();
      break;
    case "stop":
      trainer?.stop();
      break;
  }
});

function fail(err: unknown): void {
  const e =
    err instanceof TrainingError
      ? err
      : new TrainingError("internal", (err as Error)?.message ?? String(err));
  send({ type: "failed", error: { code: e.code, message: e.message, ...e.at } });
  process.disconnect?.();
}

// Ctrl-C in a terminal reaches the whole process group: let the parent decide (it sends "stop").
process.on("SIGINT", () => {});
