/**
 * What to train: the run spec and the optimizer spec, as zod schemas (the
 * store validates specs with them, the trainer parses them, the service
 * checks `runs.start`). No TensorFlow.js here: the optimizers themselves are
 * in core/engine/optimizers.ts.
 */
import { z } from "zod";
import { OPTIMIZER_KINDS } from "./lists.js";
import { SharpnessSpecSchema } from "./sharpness.js";

export const OptimizerSchema = z.strictObject({
  kind: z.enum(OPTIMIZER_KINDS, {
    error: `optimizer must be one of ${OPTIMIZER_KINDS.join(", ")}`,
  }),
  momentum: z.number().min(0).lt(1).optional(),
  weightDecay: z.number().min(0).optional(),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: z.number().positive().default(1e-8),
});
export type OptimizerSpec = z.output<typeof OptimizerSchema>;

/**
 * Speed options of the torch engine (backend "torch"; docs/backends.md), each
 * recorded with the run. The other backends ignore them.
 */
export const TorchOptionsSchema = z.strictObject({
  /** "auto" (CUDA, else MPS, else CPU), or a torch device: "cpu", "cuda", "cuda:1", "mps". */
  device: z.string().min(1).default("auto"),
  /** Keep the whole dataset on the device (no loader, no copy per step); "auto": when it fits in 4 GiB. */
  dataOnDevice: z.union([z.boolean(), z.literal("auto")]).default("auto"),
  /** Channels-last memory for conv models; "auto": on CUDA only (measured: slower on CPU, bench/RESULTS.md). */
  channelsLast: z.union([z.boolean(), z.literal("auto")]).default("auto"),
  /** Mixed precision: bf16 (CPU, recent GPUs) or fp16 (CUDA, with a gradient scaler); "off" is fp32. */
  autocast: z
    .enum(["off", "bf16", "fp16"], { error: 'autocast must be "off", "bf16" or "fp16"' })
    .default("off"),
  /** CPU threads of torch (torch.set_num_threads); torch's own default when absent. */
  threads: z.number().int().min(1).max(1024).optional(),
  /** torch.compile the model (torch >= 2.0; reported unavailable on older torch). */
  compile: z.boolean().default(false),
});
export type TorchOptions = z.output<typeof TorchOptionsSchema>;

/** What to train. Schedules arrive resolved (a preset name is resolved by the host). */
export const TrainSpecSchema = z.strictObject({
  dataset: z.string().min(1, { error: "dataset must name a dataset or a path" }),
  model: z.string().min(1),
  /** A schedule document (validated by the schedule core). */
  schedule: z.unknown(),
  /** Overrides the schedule's number of epochs. */
  epochs: z
    .number()
    .int()
    .positive()
    // MAX_EPOCHS of core/schedule/limits.ts (a test keeps the two equal).
    .max(100_000, {
      error: (iss) =>
        `epochs must be at most 100,000 (got ${String(iss.input)}); train at most 100,000 epochs (MAX_EPOCHS)`,
    })
    .optional(),
  /**
   * When `epochs` differs from an epoch-time schedule's length: "truncate" (the
   * default: cut it, or let its formulas continue) or "fit" (stretch every time
   * to the run). A schedule relative to the run (`time: "run"`) always fits.
   */
  fit: z.enum(["truncate", "fit"], { error: 'fit must be "truncate" or "fit"' }).optional(),
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
  /** Speed options of the torch engine (backend "torch"); recorded with the run, ignored by the others. */
  torch: TorchOptionsSchema.optional(),
  /** Measure sharpness at the end of the run and/or every K epochs (docs/sharpness.md); off when absent. */
  sharpness: SharpnessSpecSchema.optional(),
});
export type TrainSpecInput = z.input<typeof TrainSpecSchema>;
export type TrainSpec = z.output<typeof TrainSpecSchema>;
