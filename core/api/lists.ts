/**
 * The names every host and the renderer choose from, declared once: models,
 * optimizers, training backends, datasets, run statuses, metric x axes.
 * Plain constants (no imports), so the renderer may import them at run time.
 */

/** The model zoo (core/models). */
export const MODEL_NAMES = ["mlp", "cnn", "resnet18", "wrn-16-4", "wrn-28-10"] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** Optimizers with PyTorch's update rules (core/engine/optimizers.ts). */
export const OPTIMIZER_KINDS = ["sgd", "momentum", "nesterov", "adam", "adamw"] as const;
export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];

/** Training backends, best first: the order automatic selection tries them (core/engine/backends.ts). */
/**
 * "torch" is the PyTorch engine (core/engine/torch: a Python worker, chosen first when a
 * Python with torch is found); the others are TensorFlow.js backends.
 */
export const BACKEND_NAMES = [
  "torch",
  "tensorflow-gpu",
  "webgpu",
  "tensorflow",
  "wasm",
  "cpu",
] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** What a user may ask for: a backend by name, or "auto" (the best available). */
export const BACKEND_CHOICES = ["auto", ...BACKEND_NAMES] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Datasets known by name (core/data/registry.ts); a path to files works too. */
export const DATASET_NAMES = [
  "default",
  "fashion-mnist",
  "mnist",
  "cifar10",
  "cifar100",
  "cifar100-coarse",
] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/**
 * Training images of each named dataset (N, the Designer's default dataset
 * size): the embedded subset has 1,000 per class of Fashion-MNIST's 10.
 */
export const DATASET_TRAIN_SIZES: Readonly<Record<DatasetName, number>> = {
  default: 10_000,
  "fashion-mnist": 60_000,
  mnist: 60_000,
  cifar10: 50_000,
  cifar100: 50_000,
  "cifar100-coarse": 50_000,
};

/** The states of a run (transitions: core/store/states.ts). */
export const RUN_STATUSES = [
  "queued",
  "running",
  "paused",
  "completed",
  "stopped",
  "failed",
  "interrupted",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * States a run can be resumed from, from its last checkpoint (`runs.resume`
 * also takes a paused run). A failed run resumes only on request (NaN loss or
 * bad data would fail it again), and only with a checkpoint.
 */
export const RESUMABLE_STATUSES = [
  "stopped",
  "interrupted",
  "failed",
] as const satisfies readonly RunStatus[];

/** What metric series can be plotted against; "epoch" is fractional epochs done. */
export const X_AXES = ["step", "epoch", "samples", "wallTime"] as const;
export type XAxis = (typeof X_AXES)[number];

/** Whether `value` is one of `list` (narrows to the list's type). */
export function isOneOf<const T extends readonly string[]>(
  list: T,
  value: unknown,
): value is T[number] {
  return typeof value === "string" && (list as readonly string[]).includes(value);
}
