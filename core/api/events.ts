/**
 * What a training run reports, as plain JSON-serialisable objects: the CLI
 * prints them as JSON lines, the worker sends them over IPC, the store and the
 * app consume them. Plain types and constants (the TrainingError class is
 * core/engine/events.ts).
 */
import type { SharpnessValue } from "./sharpness.js";

/**
 * The numeric path of a run: which of the project's kernels and numeric knobs
 * were in force when it trained (core/engine/numeric-path.ts fills it in).
 */
export interface NumericPath {
  /** Version of this record's shape. */
  version: 1;
  /** The backend rung ("cpu", "wasm", "webgpu", "tensorflow", "tensorflow-gpu"). */
  backend: string;
  /** tf.getBackend() ("tensorflow" for both tfjs-node packages). */
  tfjsBackend: string;
  /** @tensorflow/tfjs-core's version. */
  tfjsCore: string;
  /**
   * The fused batch norm in training (kernels/batchnorm-train.ts) is used:
   * SGD_STUDIO_FUSED_BATCH_NORM is not "0" and the backend has its kernels
   * (cpu, webgpu). Off means tfjs-layers' own batch norm.
   */
  fusedBatchNorm: boolean;
  /**
   * The fused update kernels (kernels/fused-update.ts: optimizer updates,
   * moving averages, gradient norm) are used: SGD_STUDIO_FUSED_UPDATE is not
   * "0" and the backend has them (cpu, wasm, webgpu). Off means tfjs's ops.
   */
  fusedUpdate: boolean;
  /**
   * Split of webgpu's filter-gradient reduction (SGD_STUDIO_WEBGPU_FILTER_SPLIT
   * or setWebgpuFilterSplit): "auto" or a fixed S; "unused" on other backends.
   */
  webgpuFilterSplit: number | "auto" | "unused";
  /**
   * Threads the wasm backend ran on (core/engine/wasm-threads.ts: XNNPACK's
   * threadpool and the project's JS kernels); "unused" on other backends.
   * Runs recorded before this field existed lack it.
   */
  wasmThreads: number | "unused";
  /** tfjs flags set from SGD_STUDIO_TFJS_FLAGS, "NAME=value", sorted. */
  tfjsFlags: string[];
  /**
   * The project's kernel and gradient overrides in effect on this backend,
   * "kind KernelName" (kernels/index.ts), sorted.
   */
  kernelOverrides: string[];
  /** The variables of NUMERIC_ENV_VARS set in this process, "NAME=value", sorted. */
  env: string[];
}

/** What the torch engine ran with (backend "torch"): the interpreter and the speed options in force. */
export interface TorchInfo {
  python: string;
  pythonVersion: string;
  torch: string;
  /** The torch device: "cpu", "cuda", "cuda:1", "mps". */
  device: string;
  threads: number;
  dataOnDevice: boolean;
  channelsLast: boolean;
  autocast: "off" | "bf16" | "fp16";
  compile: boolean;
  /** torch.compile exists in this torch (>= 2.0). */
  compileAvailable: boolean;
}

export interface StartEvent {
  type: "start";
  backend: string;
  backendSummary: string;
  dataset: { name: string; train: number; test: number; shape: readonly number[]; source: string };
  model: { name: string; parameters: number };
  epochs: number;
  steps: number;
  /** First epoch this process trains (> 0 when resuming). */
  startEpoch: number;
  warnings: string[];
  /** Kernels and numeric knobs in force (numeric-path.ts); absent from older producers. */
  numericPath?: NumericPath;
  /** Seconds since this process started the run (the clock of StepEvent.time); absent from older producers. */
  time?: number;
  /** The torch engine's interpreter and speed options (backend "torch" only). */
  torch?: TorchInfo;
}

export interface StepEvent {
  type: "step";
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  batchSize: number;
  /**
   * The measured delta: lr * C / sqrt(b) with the running estimate of C
   * (`noiseC`), else (no estimate yet) delta / delta_0, as `deltaMethod` says.
   */
  delta: number;
  deltaMethod: "two-batch-estimate" | "relative";
  /**
   * The scheduled delta / delta_0: what the schedule's LR and batch size alone
   * imply (no C). Unlike `delta` it moves only when LR or batch move. Absent
   * from older producers.
   */
  deltaScheduled?: number;
  /** The running (EMA) estimate of C that `delta` used; null before the first. Absent from older producers. */
  noiseC?: number | null;
  /**
   * C was re-estimated at this step (a two-batch observation, every
   * `spec.noiseEvery` steps): `delta` may step here although LR and batch do
   * not. Absent (false) from older producers.
   */
  noiseUpdated?: boolean;
  gradNorm: number;
  /** Training samples processed so far in the run. */
  samples: number;
  /** Images per second over the last reporting window. */
  throughput: number;
  /**
   * Seconds since this process started the run when the step ended (the clock
   * of StartEvent.time and EpochEvent.wallTime). Steps reach hosts in bursts
   * (one per reporting window), so hosts use this, not the arrival time, for a
   * step's wall time and the ETA. Absent from older producers.
   */
  time?: number;
}

export interface EpochEvent {
  type: "epoch";
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  /** Seconds since the run (this process) started. */
  wallTime: number;
  /** Current estimate of the noise level C, if any. */
  noiseC: number | null;
  /** Live tensors after the epoch (a leak shows as growth). */
  tensors: number;
}

/** A direct estimate of C at the end of an epoch (see core/smoothing/noise.ts). */
export interface NoiseEvent {
  type: "noise";
  epoch: number;
  method: "direct";
  c: number;
  /** Mini-batches used, and their size. */
  batches: number;
  batchSize: number;
}

/**
 * Sharpness measured at the weights after an epoch (core/engine/sharpness.ts):
 * progress while it runs (passes done of total), the values on the last event.
 */
export interface SharpnessEvent {
  type: "sharpness";
  epoch: number;
  /** At the end of training, every K epochs, or on demand for a finished run. */
  when: "end" | "every" | "on-demand";
  /** Forward(+backward) passes done and planned. */
  done: number;
  total: number;
  /** The measured values with their settings; only on the last event of a measurement. */
  values?: SharpnessValue[];
  /** Seconds the measurement took (with values). */
  seconds?: number;
  /** The backend it ran on (with values). */
  backend?: string;
  /** Why the measurement failed (training itself goes on); no values then. */
  error?: string;
}

export interface CheckpointEvent {
  type: "checkpoint";
  epoch: number;
  path: string;
}

export interface StateEvent {
  type: "paused" | "resumed" | "stopping";
  step: number;
  epoch: number;
}

export interface SummaryEvent {
  type: "summary";
  status: "completed" | "stopped";
  epochs: number;
  steps: number;
  testAccuracy: number | null;
  bestTestAccuracy: number | null;
  bestEpoch: number | null;
  wallTime: number;
  checkpoint: string | null;
}

export interface ErrorEvent {
  type: "error";
  code: TrainingErrorCode;
  message: string;
  step?: number;
  epoch?: number;
}

/**
 * A remote run (docs/remote.md) was handed to a worker: the first delivery of
 * an attempt, or a redelivery after its worker died or failed transiently.
 * The library appends it to the run environment's `remote` list.
 */
export interface RemoteEvent {
  type: "remote";
  /** The library attempt (the host's claim) and BullMQ's delivery of its job (1, 2, ...). */
  attempt: number;
  delivery: number;
  /** The worker's id (host name, pid and a random part). */
  worker: string;
}

export type TrainEvent =
  | RemoteEvent
  | StartEvent
  | StepEvent
  | EpochEvent
  | NoiseEvent
  | SharpnessEvent
  | CheckpointEvent
  | StateEvent
  | SummaryEvent
  | ErrorEvent;

export type TrainingErrorCode =
  | "nan-loss"
  | "out-of-memory"
  | "bad-spec"
  | "dataset"
  | "backend"
  | "checkpoint"
  /** The disk filled up while saving a checkpoint (the run is interrupted: free space and resume). */
  | "disk-full"
  /** The worker process ended without reporting (killed, crashed): the run is interrupted. */
  | "worker-exited"
  | "internal";

/** Errors a resume can get past (the run becomes `interrupted`); every other code means `failed`. */
export const INTERRUPTING_ERRORS: readonly TrainingErrorCode[] = ["disk-full", "worker-exited"];
