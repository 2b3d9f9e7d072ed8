/**
 * Starts a training run in a child process and gives the host a handle:
 * events as they stream, pause / resume / stop, and the final summary.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  type SummaryEvent,
  type TrainEvent,
  TrainingError,
  type TrainSpecInput,
} from "./events.js";
import type { ParentMessage, WorkerMessage } from "./worker-protocol.js";

export interface TrainingHandle {
  readonly pid: number | undefined;
  /** Resolves with the summary; rejects with a TrainingError (also when the worker dies). */
  readonly done: Promise<SummaryEvent>;
  pause(): void;
  resume(): void;
  /** Stops after the current step, keeping the last epoch checkpoint. */
  stop(): void;
  /** Kills the worker at once (like a crash). */
  kill(signal?: NodeJS.Signals): void;
}

export interface StartOptions {
  resumeFrom?: string;
  onEvent?: (event: TrainEvent) => void;
}

/** The worker script beside this module; from TypeScript sources it runs through tsx. */
function workerEntry(): { path: string; execArgv: string[] } {
  const self = import.meta.url;
  if (self.endsWith(".ts")) {
    return { path: fileURLToPath(new URL("./worker.ts", self)), execArgv: ["--import", "tsx"] };
  }
  return { path: fileURLToPath(new URL("./worker.js", self)), execArgv: [] };
}

export function startTraining(spec: TrainSpecInput, options: StartOptions = {}): TrainingHandle {
  const entry = workerEntry();
  const child: ChildProcess = fork(entry.path, [], {
    execArgv: entry.execArgv,
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const sendToWorker = (message: ParentMessage) => {
    if (child.connected) child.send(message);
  };
  const done = new Promise<SummaryEvent>((resolve, reject) => {
    let settled = false;
    child.on("message", (raw: unknown) => {
      const message = raw as WorkerMessage;
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
    child.on("exit", (code, signal) => {
      if (settled) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = stderr.trim() ? `: ${stderr.trim().split("\n").slice(-3).join(" | ")}` : "";
      reject(new TrainingError("internal", `the training worker ${how} before finishing${tail}`));
    });
  });
  sendToWorker({ type: "start", spec, resumeFrom: options.resumeFrom });
  return {
    pid: child.pid,
    done,
    pause: () => sendToWorker({ type: "pause" }),
    resume: () => sendToWorker({ type: "resume" }),
    stop: () => sendToWorker({ type: "stop" }),
    kill: (signal = "SIGKILL") => {
      child.kill(signal);
    },
  };
}
