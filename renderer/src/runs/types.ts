/** The shapes the run views use: a run as `runs.list` returns it, and a metric series as `runs.metrics` does. */
import type { XAxis } from "../../../core/api/lists";
import type { MetricSeries, RunSummary } from "../../../core/api/records";

export type { MetricSeries, XAxis };

/** A run summary from `runs.list` / `runs.get`: the library record plus its display name. */
export type Run = RunSummary;

/** The metric keys the library records (docs/storage.md). */
export const STEP_KEYS = ["loss", "lr", "batchSize", "delta", "gradNorm", "throughput"] as const;
export const EPOCH_KEYS = [
  "trainLoss",
  "trainAccuracy",
  "testLoss",
  "testAccuracy",
  "noiseC",
] as const;

export const KEY_LABELS: Readonly<Record<string, string>> = {
  loss: "Loss (per step)",
  lr: "Learning rate",
  batchSize: "Batch size",
  delta: "Smoothing δ",
  gradNorm: "Gradient norm",
  throughput: "Throughput (img/s)",
  trainLoss: "Train loss (per epoch)",
  trainAccuracy: "Train accuracy",
  testLoss: "Test loss",
  testAccuracy: "Test accuracy",
  noiseC: "Noise level C",
  sharpness: "Adaptive sharpness",
  sharpnessL2: "Sharpness (plain L2)",
  sharpnessOneStep: "Sharpness (one-step estimate)",
};

/** The y axis' title of a key's chart, with its unit. */
export const AXIS_LABELS: Readonly<Record<string, string>> = {
  loss: "loss (cross-entropy, nats)",
  trainLoss: "loss (cross-entropy, nats)",
  testLoss: "loss (cross-entropy, nats)",
  lr: "learning rate",
  batchSize: "batch size (images)",
  delta: "δ = lr·C/√b",
  gradNorm: "gradient norm ‖g‖",
  throughput: "images / s",
  trainAccuracy: "accuracy (%)",
  testAccuracy: "accuracy (%)",
  noiseC: "noise level C",
  sharpness: "sharpness (loss increase)",
  sharpnessL2: "sharpness (loss increase)",
  sharpnessOneStep: "sharpness (loss increase)",
};

/** Accuracy is a fraction in the library and shown as percent in every view (and the CLI). */
export function isAccuracy(key: string): boolean {
  return /accuracy/i.test(key);
}

/** A run's display name: its name (schedule name) or its id. */
export function runLabel(run: Pick<Run, "id" | "name"> | undefined, id = ""): string {
  if (!run) return id;
  return run.name ? `${run.name} · ${shortId(run.id)}` : run.id;
}

/** The random suffix of an id (20261128-211500-a1b2c3 -> a1b2c3), enough to tell runs apart. */
export function shortId(id: string): string {
  const dash = id.lastIndexOf("-");
  return dash >= 0 ? id.slice(dash + 1) : id;
}
