/**
 * Training in Electron: the same TrainingHandle as core/engine/worker-client.ts
 * (child_process.fork), but the worker is an Electron utility process
 * (`utilityProcess.fork`), which needs no separate Node binary and runs
 * Electron's own Node (the same ABI as the rebuilt native modules). The
 * worker entry is training-worker.ts: it adapts the utility process's
 * `parentPort` to the messages core/engine/worker.ts already speaks.
 *
 * Core never imports Electron: the main process passes this function to the
 * service as its `startTraining` factory.
 */

import { fileURLToPath } from "node:url";
import { utilityProcess } from "electron";
import type { SummaryEvent, TrainSpecInput } from "../core/engine/events.js";
import { TrainingError } from "../core/engine/events.js";
import type { StartOptions, TrainingHandle } from "../core/engine/worker-client.js";
import type { ParentMessage, WorkerMessage } from "../core/engine/worker-protocol.js";

/** The signature both launchers share, for hosts and the service to take as a dependency. */
export type StartTraining = (spec: TrainSpecInput, options?: StartOptions) => TrainingHandle;

/** The worker entry beside this module; from TypeScript sources (tests) it runs through tsx. */
export function trainingWorkerEntry(self: string = import.meta.url): {
  path: string;
  execArgv: string[];
} {
  if (self.endsWith(".ts")) {
    return {
      path: fileURLToPath(new URL("./training-worker.ts", self)),
      execArgv: ["--import", "tsx"],
    };
  }
  return { path: fileURLToPath(new URL("./training-worker.js", self)), execArgv: [] };
}

export const startTrainingInUtilityProcess: StartTraining = (spec, options = {}) => {
  const entry = trainingWorkerEntry();
  const child = utilityProcess.fork(entry.path, [], {
    execArgv: entry.execArgv,
    serviceName: "SGD Studio training",
    stdio: ["ignore", "inherit", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer | string) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  const send = (message: ParentMessage) => {
    if (!exited) child.postMessage(message);
  };
  const done = new Promise<SummaryEvent>((resolve, reject) => {
    let settled = false;
    child.on("message", (raw: unknown) => {
      const message = raw as WorkerMessage;
      if (!message || typeof message !== "object") return;
      if (message.type === "event") options.onEvent?.(message.event);
      else if (message.type === "done") {
        settled = true;
        resolve(message.summary);
      } else if (message.type === "failed") {
        settled = true;
        const { code, message: text, step, epoch } = message.error;
        options.onEvent?.({ type: "error", ...message.error });
        reject(new TrainingError(code, text, { step, epoch }));
      }
    });
    child.on("exit", (code: number) => {
      exited = true;
      if (settled) return;
      const tail = stderr.trim() ? `: ${stderr.trim().split("\n").slice(-3).join(" | ")}` : "";
      reject(
        new TrainingError(
          "internal",
          `the training worker exited with code ${code} before finishing${tail}`,
        ),
      );
    });
  });
  send({ type: "start", spec, resumeFrom: options.resumeFrom });
  return {
    get pid() {
      return child.pid;
    },
    done,
    pause: () => send({ type: "pause" }),
    resume: () => send({ type: "resume" }),
    stop: () => send({ type: "stop" }),
    kill: (signal = "SIGKILL") => {
      // utilityProcess.kill() only sends SIGTERM; "like a crash" needs the signal asked for.
      const pid = child.pid;
      if (pid === undefined) return;
      try {
        process.kill(pid, signal);
      } catch {
        child.kill();
      }
    },
  };
};
