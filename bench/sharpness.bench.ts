/**
 * The cost of measuring sharpness (core/engine/sharpness.ts, docs/sharpness.md)
 * per model and backend: seconds per ascent pass (one forward+backward of a
 * batch, plus the projection and bookkeeping), the time of one measurement as
 * run here, and the projected time of the default measurement (all three
 * variants, 1,024 examples in batches of 128, 20 iterations: 8 x 41 passes),
 * next to the time of one training step of the same batch for scale.
 * Backend "torch" (when a Python with torch is found) is measured through the
 * real torch engine: a one-epoch TorchTrainer run whose end-of-run measurement
 * is timed (the `seconds` of its values event: Python's passes plus the
 * messages); its train step column is the median step time of that epoch.
 * Run: npx tsx bench/sharpness.bench.ts [-- --models mlp,cnn --backends cpu,wasm,torch --examples 128 --iters 20 --batch 128 --steps 5]
 * (the cnn on the pure-JS cpu backend takes minutes per pass at batch 128: use --batch 32 --examples 32 --iters 2 --steps 1).
 */
import * as tf from "@tensorflow/tfjs-core";
import { loadDataset } from "../core/data/registry.js";
import { probeBackends, selectBackend } from "../core/engine/backends.js";
import type { SharpnessEvent, StepEvent } from "../core/engine/events.js";
import { Optimizer } from "../core/engine/optimizers.js";
import {
  disposeBatches,
  inferenceLoss,
  measureSharpness,
  plannedPasses,
  SharpnessSettingsSchema,
  sharpnessBatches,
} from "../core/engine/sharpness.js";
import { trainStep } from "../core/engine/step.js";
import { TorchTrainer } from "../core/engine/torch/driver.js";
import { findTorchPython } from "../core/engine/torch/python.js";
import { createModel } from "../core/models/index.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const models = arg("models", "mlp,cnn").split(",");
const examples = Number(arg("examples", "128"));
const iterations = Number(arg("iters", "20"));
const batchSize = Number(arg("batch", "128"));
/** Timed training steps (after one warm-up step). */
const trainSteps = Number(arg("steps", "5"));
const probes = await probeBackends();
const available = probes.filter((p) => p.available).map((p) => p.name as string);
if (!available.includes("torch") && (await findTorchPython()).found) available.push("torch");
const backends = arg(
  "backends",
  ["cpu", "wasm", "torch"].filter((b) => available.includes(b)).join(","),
)
  .split(",")
  .filter((b) => available.includes(b));
const dataset = await loadDataset("default");
/** The default measurement: 3 variants, 8 batches of 128, 20 iterations (in passes of this batch size). */
const DEFAULT_PASSES = plannedPasses(["adaptive", "l2", "one-step"], 20, 1024 / batchSize);

console.log(
  `sharpness bench  ${new Date().toISOString().slice(0, 10)}  node ${process.version}  batch ${batchSize}, ${examples} examples, ${iterations} iterations`,
);
console.log(`backends here: ${available.join(", ")}`);
console.log(
  "model  backend  variant   passes  seconds  ms/pass  train step ms  default measurement (s)",
);

/** One row per variant on the torch engine: a one-epoch run's end-of-run measurement, timed. */
async function torchRows(model: string): Promise<void> {
  for (const variant of ["adaptive", "one-step"] as const) {
    const events: (SharpnessEvent | StepEvent)[] = [];
    await new TorchTrainer(
      {
        dataset: "default",
        model,
        backend: "torch",
        seed: 0,
        trainLimit: Math.max(examples, batchSize * (trainSteps + 1)),
        testLimit: 100,
        schedule: {
          version: 1,
          epochs: 1,
          lr: { kind: "constant", lr: 0.01 },
          batch: { kind: "constant", size: batchSize },
        },
        sharpness: { examples, batchSize, iterations, variants: [variant] },
      },
      (e) => {
        if (e.type === "sharpness" || e.type === "step") events.push(e);
      },
    ).run();
    const steps = events.filter((e): e is StepEvent => e.type === "step");
    const gaps = steps
      .slice(2)
      .map((e, i) => 1000 * ((e.time as number) - ((steps[i + 1] as StepEvent).time as number)))
      .sort((a, b) => a - b);
    const trainMs = gaps[Math.floor(gaps.length / 2)] ?? Number.NaN;
    const done = events.find((e): e is SharpnessEvent => e.type === "sharpness" && !!e.values);
    if (!done) throw new Error(`torch ${model} ${variant}: no sharpness value`);
    const passes = plannedPasses([variant], iterations, Math.ceil(examples / batchSize));
    const seconds = done.seconds as number;
    const msPerPass = (1000 * seconds) / passes;
    console.log(
      `${model.padEnd(6)} ${"torch".padEnd(8)} ${variant.padEnd(9)} ${String(passes).padStart(6)} ${seconds.toFixed(2).padStart(8)} ${msPerPass.toFixed(1).padStart(8)} ${trainMs.toFixed(1).padStart(14)} ${variant === "adaptive" ? ((DEFAULT_PASSES * msPerPass) / 1000).toFixed(1).padStart(24) : ""}`,
    );
  }
}

for (const model of models) {
  for (const backend of backends) {
    if (backend === "torch") {
      await torchRows(model);
      continue;
    }
    await selectBackend(backend);
    const m = createModel(model, {
      inputShape: [...dataset.shape],
      numClasses: dataset.classes.length,
      seed: 0,
    });
    const variables = m.trainableWeights.map((w) => w.read() as tf.Variable);
    const batches = sharpnessBatches(dataset, { examples, batchSize, seed: 0 });
    // One training step of the same batch, for scale (median of `trainSteps` after a warm-up).
    const optimizer = new Optimizer(
      { kind: "sgd", beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      variables,
    );
    const first = batches[0];
    if (!first) throw new Error("no batch");
    const labels = new Int32Array(await tf.argMax(first.y, 1).data());
    const stepMs: number[] = [];
    for (let k = 0; k <= trainSteps; k++) {
      const t = performance.now();
      const r = trainStep(
        { model: m, variables, optimizer, numClasses: dataset.classes.length },
        first.x as tf.Tensor4D,
        labels,
        0,
        false,
      );
      await r.loss.data();
      tf.dispose([r.loss, r.gradNormSq, r.correct]);
      if (k > 0) stepMs.push(performance.now() - t);
    }
    stepMs.sort((a, b) => a - b);
    const trainMs = stepMs[Math.floor(stepMs.length / 2)] as number;
    optimizer.dispose();
    // A warm-up measurement (kernels compiled, buffers allocated), then the timed ones.
    const lossOf = inferenceLoss(m);
    await measureSharpness(
      variables,
      batches.slice(0, 1),
      lossOf,
      SharpnessSettingsSchema.parse({ iterations: 2, variants: ["adaptive"] }),
    );
    for (const variant of ["adaptive", "one-step"] as const) {
      const settings = SharpnessSettingsSchema.parse({
        iterations,
        examples,
        batchSize,
        variants: [variant],
      });
      const passes = plannedPasses([variant], iterations, batches.length);
      const t = performance.now();
      await measureSharpness(variables, batches, lossOf, settings);
      const seconds = (performance.now() - t) / 1000;
      const msPerPass = (1000 * seconds) / passes;
      console.log(
        `${model.padEnd(6)} ${backend.padEnd(8)} ${variant.padEnd(9)} ${String(passes).padStart(6)} ${seconds.toFixed(2).padStart(8)} ${msPerPass.toFixed(1).padStart(8)} ${trainMs.toFixed(1).padStart(14)} ${variant === "adaptive" ? ((DEFAULT_PASSES * msPerPass) / 1000).toFixed(1).padStart(24) : ""}`,
      );
    }
    disposeBatches(batches);
    m.dispose();
  }
}
