/**
 * Starts a training run in a worker process and gives the host a handle:
 * events as they stream, pause / resume / stop, and the final verdict.
 *
 * One supervisor (superviseWorker) for every kind of process: a launcher
 * only adapts its process API to a WorkerChannel (child_process.fork here,
 * Electron's utilityProcess in electron/training-process.ts).
 *
 * The verdict is reached only once the process has ended AND every message it
 * sent has been delivered (a busy host reads them late, but reads them all),
 * so a worker that finished is never judged by its exit alone.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { SharpnessSettingsInput } from "../api/sharpness.js";
import {
  type SummaryEvent,
  type TrainEvent,
  TrainingError,
  type TrainSpecInput,
} from "./events.js";
import type { ParentMessage, WorkerMessage } from "./worker-protocol.js";

export interface TrainingHandle {
  readonly pid: number | undefined;
  /**
   * Resolves with the summary; rejects with a TrainingError: the worker's own
   * report, or code "worker-exited" when the process ended without one.
   */
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
  /** Measure sharpness at this checkpoint instead of training (core/service/sharpness-job.ts). */
  sharpness?: { checkpoint: string; settings: SharpnessSettingsInput };
  /** The library run and attempt being trained (a remote launcher names its job after them). */
  run?: { id: string; attempt: number };
}

/** Starts training in some process: the one launcher type every host passes to the service. */
export type TrainingLauncher = (spec: TrainSpecInput, options?: StartOptions) => TrainingHandle;

/** What the supervisor needs of a worker process. */
export interface WorkerChannel {
  readonly pid: number | undefined;
  send(message: ParentMessage): void;
  onMessage(listener: (message: WorkerMessage) => void): void;
  /** Called once, after the process ended and every message it sent was delivered. */
  onEnd(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  /** The end of what the worker wrote to stderr. */
  stderrTail(): string;
  kill(signal: NodeJS.Signals): void;
}

/** Keeps the last `max` characters of a stream. */
export function tailOf(stream: NodeJS.ReadableStream | null | undefined, max = 8000): () => string {
  let tail = "";
  stream?.on("data", (chunk: Buffer | string) => {
    tail = (tail + chunk.toString()).slice(-max);
  });
  return () => tail;
}

/**
 * Why a worker ended without reporting, in words: the signal, or the error
 * line of an uncaught exception in its stderr (not warnings or other noise).
 */
export function endedWithoutReport(
  code: number | null,
  signal: NodeJS.Signals | null,
  stderr: string,
): string {
  if (signal) {
    const who =
      signal === "SIGKILL" ? " (by a user or the system, e.g. its out-of-memory killer)" : "";
    return `the training worker was killed by ${signal}${who}`;
  }
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("(node:") && !/warning/i.test(l));
  const cause =
    lines.find((l) => /^(\w*Error|RangeError|TypeError)\b|^FATAL|out of memory|ENOSPC/i.test(l)) ??
    null;
  return `the training worker exited with code ${code} before finishing${cause ? `: ${cause}` : ""}`;
}

export function superviseWorker(
  channel: WorkerChannel,
  spec: TrainSpecInput,
  options: StartOptions = {},
): TrainingHandle {
  let ended = false;
  const send = (message: ParentMessage) => {
    if (!ended) channel.send(message);
  };
  const done = new Promise<SummaryEvent>((resolve, reject) => {
    let verdict: { summary: SummaryEvent } | { error: TrainingError } | null = null;
    channel.onMessage((message) => {
      if (!message || typeof message !== "object") return;
      if (message.type === "event") options.onEvent?.(message.event);
      else if (message.type === "done") verdict = { summary: message.summary };
      else if (message.type === "failed") {
        const { code, message: text, step, epoch } = message.error;
        options.onEvent?.({ type: "error", ...message.error });
        verdict = { error: new TrainingError(code, text, { step, epoch }) };
      }
    });
    channel.onEnd((code, signal) => {
      ended = true;
      if (verdict && "summary" in verdict) resolve(verdict.summary);
      else if (verdict) reject(verdict.error);
      else
        reject(
          new TrainingError(
            "worker-exited",
            endedWithoutReport(code, signal, channel.stderrTail()),
          ),
        );
    });
  });
  send(
    options.sharpness
      ? { type: "sharpness", spec, ...options.sharpness }
      : { type: "start", spec, resumeFrom: options.resumeFrom },
  );
  return {
    get pid() {
      return channel.pid;
    },
    done,
    pause: () => send({ type: "pause" }),
    resume: () => send({ type: "resume" }),
    stop: () => send({ type: "stop" }),
    kill: (signal = "SIGKILL") => {
      if (!ended) channel.kill(signal);
    },
  };
}

/** The worker script beside this module; from TypeScript sources it runs through tsx. */
function workerEntry(): { path: string; execArgv: string[] } {
  const self = import.meta.url;
  if (self.endsWith(".ts")) {
    return { path: fileURLToPath(new URL("./worker.ts", self)), execArgv: ["--import", "tsx"] };
  }
  return { path: fileURLToPath(new URL("./worker.js", self)), execArgv: [] };
}

/** A WorkerChannel over child_process.fork. */
function forkChannel(): WorkerChannel {
  const entry = workerEntry();
  const child: ChildProcess = fork(entry.path, [], {
    execArgv: entry.execArgv,
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  const stderrTail = tailOf(child.stderr);
  return {
    get pid() {
      return child.pid;
    },
    send: (message) => {
      if (child.connected) child.send(message);
    },
    onMessage: (listener) => child.on("message", (m) => listener(m as WorkerMessage)),
    // 'close' comes after 'exit', once the IPC channel is drained and closed.
    onEnd: (listener) => child.once("close", (code, signal) => listener(code, signal)),
    stderrTail,
    kill: (signal) => {
      child.kill(signal);
    },
  };
}

/** Trains in a child process of this Node process (the CLI and the web host). */
export const startTraining: TrainingLauncher = (spec, options = {}) =>
  superviseWorker(forkChannel(), spec, options);
