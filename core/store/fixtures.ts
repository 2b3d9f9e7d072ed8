/**
 * Synthetic training runs for the store's tests, its crash-test writer and
 * its benchmark: the events a Trainer would emit, without training anything.
 */
import { saveCheckpoint } from "../engine/checkpoint.js";
import type { TrainEvent, TrainSpecInput } from "../engine/events.js";
import { TrainSpecSchema } from "../engine/events.js";

export function testSpec(overrides: Partial<TrainSpecInput> = {}): TrainSpecInput {
  return {
    dataset: "default",
    model: "mlp",
    schedule: {
      version: 1,
      name: "test-cosine",
      epochs: 3,
      lr: { kind: "cosine", base: 0.1 },
      batch: { kind: "constant", size: 32 },
    },
    seed: 7,
    backend: "cpu",
    ...overrides,
  };
}

export interface SyntheticRunOptions {
  epochs?: number;
  stepsPerEpoch?: number;
  batchSize?: number;
  startEpoch?: number;
  /** Emit a checkpoint event after each epoch with this folder (see writeTestCheckpoint). */
  checkpointDir?: string;
  /** End with a summary (default) or stop without one (a crash). */
  finish?: "completed" | "stopped" | "none";
}

/** Loss falls as 1 / (1 + step / 100) with a wiggle; test accuracy rises each epoch. */
export function* syntheticRun(options: SyntheticRunOptions = {}): Generator<TrainEvent> {
  const epochs = options.epochs ?? 3;
  const perEpoch = options.stepsPerEpoch ?? 20;
  const batch = options.batchSize ?? 32;
  const startEpoch = options.startEpoch ?? 0;
  const train = perEpoch * batch;
  yield {
    type: "start",
    backend: "cpu",
    backendSummary: "cpu (synthetic)",
    dataset: { name: "synthetic", train, test: 100, shape: [28, 28, 1], source: "fixtures" },
    model: { name: "mlp", parameters: 1000 },
    epochs,
    steps: epochs * perEpoch,
    startEpoch,
    warnings: [],
  };
  let best = 0;
  for (let e = startEpoch; e < epochs; e++) {
    for (let i = 0; i < perEpoch; i++) {
      const step = e * perEpoch + i;
      yield {
        type: "step",
        step,
        epoch: e,
        loss: 1 / (1 + step / 100) + 0.01 * Math.sin(step),
        lr: 0.1,
        batchSize: batch,
        delta: 0.1 / Math.sqrt(batch),
        deltaMethod: "relative",
        gradNorm: 1 + 0.1 * Math.cos(step),
        samples: (step + 1) * batch,
        throughput: 1000,
      };
    }
    const acc = 0.5 + 0.1 * e;
    best = Math.max(best, acc);
    yield {
      type: "epoch",
      epoch: e,
      trainLoss: 1 / (1 + e),
      trainAccuracy: acc + 0.02,
      testLoss: 1.1 / (1 + e),
      testAccuracy: acc,
      wallTime: e + 1,
      noiseC: e > 0 ? 2 : null,
      tensors: 10,
    };
    if (options.checkpointDir)
      yield {
        type: "checkpoint",
        epoch: e,
        path: `${options.checkpointDir}/epoch-${String(e).padStart(4, "0")}`,
      };
  }
  if ((options.finish ?? "completed") !== "none") {
    yield {
      type: "summary",
      status: options.finish === "stopped" ? "stopped" : "completed",
      epochs,
      steps: epochs * perEpoch,
      testAccuracy: 0.5 + 0.1 * (epochs - 1),
      bestTestAccuracy: best,
      bestEpoch: epochs - 1,
      wallTime: epochs,
      checkpoint: null,
    };
  }
}

/** A real (tiny, weightless) checkpoint in `dir` for `epoch`, as the Trainer would save it. */
export function writeTestCheckpoint(dir: string, epoch: number, step: number): string {
  return saveCheckpoint(dir, {
    spec: TrainSpecSchema.parse(testSpec()),
    epoch,
    step,
    samples: step * 32,
    weights: [],
    optimizer: { kind: "sgd", step, slots: {} },
    noise: null,
    best: null,
  });
}
