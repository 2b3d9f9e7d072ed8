/**
 * What a training run reports, as plain JSON-serialisable objects: the CLI
 * prints them as JSON lines, the worker sends them over IPC, the store and the
 * app consume them.
 */
import { z } from "zod";
import type { NumericPath } from "./numeric-path.js";
import { OptimizerSchema } from "./optimizers.js";

/** What to train. Schedules arrive resolved (a preset name is resolved by the host). */
export const TrainSpecSchema = z.strictObject({
  dataset: z.string().min(1, { error: "dataset must name a dataset or a path" }),
  model: z.string().min(1),
  /** A schedule document (validated by the schedule core). */
  schedule: z.unknown(),
  /** Overrides the schedule's number of epochs. */
  epochs: z.number().int().positive().optional(),
  backend: z.string().optional(),
  seed: z.number().int().nonnegative().default(0),
  optimizer: OptimizerSchema.default({ kind: "sgd", beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
  /** Augmentation (crop + flip); default on for 3-channel (CIFAR) data. */
  augment: z.boolean().optional(),
  /** Estimate C every this many steps (two batch sizes); 0 turns it off. */
  noiseEvery: z.number().int().nonnegative().default(50),
  /** Also estimate C directly (b * mean |g_B - g|^2 over several batches) after these epochs (0-based). */
  noiseDirectEpochs: z.array(z.number().int().nonnegative()).default([]),
  /** Where checkpoints go; none when absent. */
  checkpointDir: z.string().optional(),
  /** Use only the first N training images (quick runs, tests). */
  trainLimit: z.number().int().positive().optional(),
  /** Use only the first N test images. */
  testLimit: z.number().int().positive().optional(),
  /** Options passed to the dataset loader. */
  dataDir: z.string().optional(),
});
export type TrainSpecInput = z.input<typeof TrainSpecSchema>;
export type TrainSpec = z.output<typeof TrainSpecSchema>;

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
}

export interface StepEvent {
  type: "step";
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  batchSize: number;
  /** lr * C / sqrt(b) with the current estimate of C, else delta / delta_0. */
  delta: number;
  deltaMethod: "two-batch-estimate" | "relative";
  gradNorm: number;
  /** Training samples processed so far in the run. */
  samples: number;
  /** Images per second over the last reporting window. */
  throughput: number;
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

export type TrainEvent =
  | StartEvent
  | StepEvent
  | EpochEvent
  | NoiseEvent
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
  | "internal";

export class TrainingError extends Error {
  constructor(
    readonly code: TrainingErrorCode,
    message: string,
    readonly at: { step?: number; epoch?: number } = {},
  ) {
    super(message);
    this.name = "TrainingError";
  }
}
