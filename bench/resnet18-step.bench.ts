/**
 * The ResNet-18 (CIFAR) training step, fp32, synthetic 32x32x3 data: img/s on
 * one backend. This is the figure the training-speed issue tracks on a GPU
 * (WebGPU through Dawn); here it runs on lavapipe or the CPU backends.
 * Baseline in the same process: the small cnn at the same batch size, so the
 * ratio shows how much of the time is the model rather than the backend.
 * Run: npm run bench:resnet -- --backend webgpu [--batch 128] [--steps 20] [--warmup 3] [--json]
 * On a GPU machine without npm: node --import tsx bench/resnet18-step.bench.ts ...
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../core/engine/backends.js";
import { Optimizer } from "../core/engine/optimizers.js";
import { trainStep } from "../core/engine/step.js";
import { createModel } from "../core/models/index.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const backendName = arg("backend", "webgpu");
const batch = Number(arg("batch", "128"));
const steps = Number(arg("steps", "20"));
const warmup = Number(arg("warmup", "3"));
const models = arg("models", "resnet18,cnn").split(",");

const selection = await selectBackend(backendName);
console.error(selection.summary);

async function measure(
  name: string,
): Promise<{ imgPerSec: number; msPerStep: number; firstStepMs: number }> {
  const shape: [number, number, number] = [32, 32, 3];
  const model = createModel(name, { inputShape: shape, numClasses: 10, seed: 0 });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new Optimizer({ kind: "sgd" }, variables);
  const m = { model, variables, optimizer, numClasses: 10 };
  const x = tf.randomNormal([batch, ...shape], 0, 1, "float32", 1) as tf.Tensor4D;
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = trainStep(m, x, labels, 0.01, false);
      // One read per step, as the Trainer's window does every 10: it waits for the GPU.
      await r.loss.data();
      tf.dispose([r.loss, r.gradNormSq, r.correct]);
    }
  };
  let t = performance.now();
  await run(1);
  const firstStepMs = performance.now() - t;
  await run(Math.max(0, warmup - 1));
  t = performance.now();
  await run(steps);
  const msPerStep = (performance.now() - t) / steps;
  optimizer.dispose();
  model.dispose();
  x.dispose();
  return { imgPerSec: (1000 * batch) / msPerStep, msPerStep, firstStepMs };
}

const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  backend: selection.name,
  adapter: selection.probes.find((p) => p.name === selection.name)?.details ?? {},
  batch,
  steps,
};
for (const name of models) {
  const r = await measure(name);
  results[name] = r;
  console.log(
    `${name.padEnd(9)} ${selection.name}: ${r.imgPerSec.toFixed(1)} img/s (${r.msPerStep.toFixed(1)} ms/step, first step ${r.firstStepMs.toFixed(0)} ms)`,
  );
}
if (process.argv.includes("--json")) console.log(JSON.stringify(results));
