/**
 * Training in Electron: core/engine/worker-client.ts's supervisor over an
 * Electron utility process
 * (`utilityProcess.fork`), which needs no separate Node binary and runs
 * Electron's own Node (the same ABI as the rebuilt native modules). The
 * worker entry is training-worker.ts: it adapts the utility process's
 * `parentPort` to the messages core/engine/worker.ts already speaks.
 *
 * Core never imports Electron: the main process passes this function to the
 * service as its TrainingLauncher.
 */

import { fileURLToPath } from "node:url";
import { utilityProcess } from "electron";
import {
  superviseWorker,
  type TrainingLauncher,
  tailOf,
  type WorkerChannel,
} from "../core/engine/worker-client.js";
import type { WorkerMessage } from "../core/engine/worker-protocol.js";

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

export const startTrainingInUtilityProcess: TrainingLauncher = (spec, options = {}) => {
  const entry = trainingWorkerEntry();
  const child = utilityProcess.fork(entry.path, [], {
    execArgv: entry.execArgv,
    serviceName: "SGD Studio training",
    stdio: ["ignore", "inherit", "pipe"],
  });
  const stderrTail = tailOf(child.stderr);
  let exited = false;
  const channel: WorkerChannel = {
    get pid() {
      return child.pid;
    },
    send: (message) => {
      if (!exited) child.postMessage(message);
    },
    onMessage: (listener) => child.on("message", (m: unknown) => listener(m as WorkerMessage)),
    // A utility process has no 'close': its messages are delivered before 'exit' because the
    // worker posts its verdict and waits (training-worker.ts) before it ends.
    onEnd: (listener) =>
      child.once("exit", (code: number) => {
        exited = true;
        setImmediate(() => listener(code, null));
      }),
    stderrTail,
    kill: (signal) => {
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
  return superviseWorker(channel, spec, options);
};
