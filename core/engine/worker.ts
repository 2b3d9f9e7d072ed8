/**
 * Entry point of the training worker process (child_process.fork here,
 * utilityProcess in Electron): runs one Trainer and relays its events over IPC,
 * so training never blocks the host's event loop.
 *
 * The last message (done or failed) is sent with a callback and the channel
 * is closed only once it is written: a host whose event loop is busy reads it
 * late, but always reads it (closing at once drops the unread messages).
 * When the host goes away (its end of the channel closes), the worker exits:
 * an orphan must not train on without anyone recording it.
 */
import { TrainingError } from "./events.js";
import { Trainer } from "./trainer.js";
import type { ParentMessage, WorkerMessage } from "./worker-protocol.js";

function send(message: WorkerMessage, then?: () => void): void {
  if (!process.send || !process.connected) {
    then?.();
    return;
  }
  process.send(message, undefined, {}, () => then?.());
}

/** Sends the verdict, then closes the channel (which ends the process). */
function finish(message: WorkerMessage): void {
  send(message, () => process.disconnect?.());
}

let trainer: Trainer | null = null;
/** An on-demand sharpness measurement (the `sharpness` message) instead of training. */
let sharpnessJob: { stop: boolean } | null = null;

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
        (summary) => finish({ type: "done", summary }),
        (err) => fail(err),
      );
      break;
    case "sharpness":
      if (trainer || sharpnessJob) return;
      sharpnessJob = { stop: false };
      import("./sharpness-checkpoint.js")
        .then(({ checkpointSharpness }) =>
          checkpointSharpness(
            message,
            (event) => send({ type: "event", event }),
            () => sharpnessJob?.stop === true,
          ),
        )
        .then(
          ({ summary }) => finish({ type: "done", summary }),
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
      if (sharpnessJob) sharpnessJob.stop = true;
      break;
  }
});

function fail(err: unknown): void {
  const e =
    err instanceof TrainingError
      ? err
      : new TrainingError("internal", (err as Error)?.message ?? String(err));
  finish({ type: "failed", error: { code: e.code, message: e.message, ...e.at } });
}

// The host is gone (or we closed the channel after the verdict): nothing more to do.
process.on("disconnect", () => process.exit(0));

// Ctrl-C in a terminal reaches the whole process group: let the parent decide (it sends "stop").
process.on("SIGINT", () => {});
