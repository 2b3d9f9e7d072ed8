// Common random numbers across a sweep's arms: the same seed gives the same initial weights and
// the same data order in every arm, so two members that differ only in lr differ only by it.
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { datasetBatches, epochRng } from "../data/batches.js";
import { Rng } from "../data/rng.js";
import { createModel } from "../models/index.js";
import { expandSweep } from "../sweep/expand.js";
import { probeBackends } from "./backends.js";
import type { StepEvent, TrainSpecInput } from "./events.js";
import { loadSpecDataset, Trainer } from "./trainer.js";

const sweep = {
  version: 1,
  base: {
    dataset: "default",
    model: "mlp",
    backend: "cpu",
    trainLimit: 96,
    testLimit: 50,
    epochs: 1,
    schedule: "paper-constant",
  },
  axes: { lr: [0.01, 0.3], batchSize: [16] },
  seeds: [5, 6],
};

async function firstSteps(spec: Record<string, unknown>): Promise<StepEvent[]> {
  const steps: StepEvent[] = [];
  await new Trainer(spec as unknown as TrainSpecInput, (e) => {
    if (e.type === "step") steps.push(e);
  }).run();
  return steps;
}

describe("common random numbers across arms", () => {
  it("two arms with the same seed, differing only in lr: identical first-batch indices, initial weights and step-0 loss", async () => {
    await probeBackends(["cpu"]);
    await tf.setBackend("cpu");
    const members = expandSweep(sweep);
    const arm = (lr: number, seed: number) =>
      members.find((m) => m.values.lr === lr && m.values.seed === seed)?.spec as Record<
        string,
        unknown
      >;
    const a = arm(0.01, 5);
    const b = arm(0.3, 5);
    const other = arm(0.01, 6);

    // The data order the trainer uses: epochRng(Rng.from(seed), epoch) only (no lr, no batch size).
    const dataset = await loadSpecDataset({ dataset: "default", trainLimit: 96 });
    const firstBatch = (seed: number, batchSize: number) =>
      Array.from(
        datasetBatches(dataset, "train", { batchSize, rng: epochRng(Rng.from(seed), 0) }).next()
          .value?.indices ?? [],
      );
    expect(firstBatch(a.seed as number, 16)).toEqual(firstBatch(b.seed as number, 16));
    expect(firstBatch(5, 16)).not.toEqual(firstBatch(6, 16));
    // At another batch size the order is the same permutation: the first 16 of 32 are the 16.
    expect(firstBatch(5, 32).slice(0, 16)).toEqual(firstBatch(5, 16));

    // Initial weights from the seed alone.
    const weights = (seed: number) => {
      const model = createModel("mlp", { inputShape: [...dataset.shape], numClasses: 10, seed });
      const values = model.getWeights().map((w) => Array.from(w.dataSync()));
      model.dispose();
      return values;
    };
    expect(weights(a.seed as number)).toEqual(weights(b.seed as number));
    expect(weights(5)).not.toEqual(weights(6));

    // End to end through the trainer: step 0's loss and gradient norm depend only on the initial
    // weights and the first batch, so they are equal bit for bit; step 1 differs by the lr.
    const sa = await firstSteps(a);
    const sb = await firstSteps(b);
    const so = await firstSteps(other);
    expect(sa[0]?.lr).toBe(0.01);
    expect(sb[0]?.lr).toBe(0.3);
    expect(sa[0]?.loss).toBe(sb[0]?.loss);
    expect(sa[0]?.gradNorm).toBe(sb[0]?.gradNorm);
    expect(sa[1]?.loss).not.toBe(sb[1]?.loss);
    expect(so[0]?.loss).not.toBe(sa[0]?.loss);
  }, 120_000);
});
