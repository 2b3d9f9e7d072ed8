/**
 * Sharpness against PyTorch: the same mlp weights and the same evaluation
 * batches through core/engine/sharpness.ts and the torch engine's
 * implementation (python/sgd_studio_torch/sharpness.py, driven by
 * tests/sharpness_torch.py on the engine's own model) give the same adaptive,
 * plain-L2 and one-step values within 2%.
 * PyTorch is required (CI installs python3-torch; found as the engine finds
 * it, tests/support/torch.ts): without it the test skips with a message,
 * except under CI, where it fails.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { loadDataset } from "../core/data/registry.js";
import {
  disposeBatches,
  inferenceLoss,
  measureSharpness,
  SharpnessSettingsSchema,
  sharpnessBatches,
} from "../core/engine/sharpness.js";
import { createModel, modelGraph } from "../core/models/index.js";
import { requireTorch, torchTests } from "./support/torch.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const script = path.join(root, "tests", "sharpness_torch.py");

const withTorch = torchTests("the sharpness comparison with PyTorch");

const dirs: string[] = [];
beforeAll(async () => {
  await tf.setBackend("cpu");
  await tf.ready();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("sharpness: TensorFlow.js against the PyTorch port", () => {
  withTorch("same weights, same batches: adaptive, plain L2 and one-step within 2%", async () => {
    const python = requireTorch();
    const dataset = await loadDataset("default");
    const model = createModel("mlp", { inputShape: [...dataset.shape], numClasses: 10, seed: 5 });
    // A few SGD steps first, so the weights are not the initialisation's.
    const warm = sharpnessBatches(dataset, { examples: 512, batchSize: 128, seed: 9 });
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const lossOf = inferenceLoss(model);
    for (let k = 0; k < 8; k++) {
      const b = warm[k % warm.length];
      if (!b) break;
      const { grads } = tf.variableGrads(() => lossOf(b), variables);
      tf.tidy(() => {
        for (const v of variables) v.assign(tf.sub(v, tf.mul(grads[v.name] as tf.Tensor, 0.2)));
      });
      tf.dispose(Object.values(grads));
    }
    disposeBatches(warm);

    const settings = SharpnessSettingsSchema.parse({ examples: 128, batchSize: 64 });
    const batches = sharpnessBatches(dataset, settings);
    const ours = (await measureSharpness(variables, batches, lossOf, settings)) ?? [];

    // The same numbers for the port: weights (tfjs kernels are [in, out]) and batches.
    const parts: Float32Array[] = [];
    let offset = 0;
    const entry = (values: Float32Array, shape: number[]) => {
      parts.push(values);
      const e = { offset, length: values.length, shape };
      offset += values.length;
      return e;
    };
    const weights = [];
    for (const v of variables) weights.push(entry(await v.data<"float32">(), [...v.shape]));
    const bs = [];
    for (const b of batches) {
      const labels = Array.from(await tf.argMax(b.y, 1).data());
      bs.push({ ...entry(await b.x.data<"float32">(), [...b.x.shape]), labels });
    }
    const dir = mkdtempSync(path.join(tmpdir(), "sharpness-torch-"));
    dirs.push(dir);
    const blob = Buffer.alloc(offset * 4);
    let at = 0;
    for (const p of parts) {
      Buffer.from(p.buffer, p.byteOffset, p.byteLength).copy(blob, at);
      at += p.byteLength;
    }
    writeFileSync(path.join(dir, "data.bin"), blob);
    writeFileSync(
      path.join(dir, "manifest.json"),
      JSON.stringify({
        graph: modelGraph("mlp", { inputShape: [...dataset.shape], numClasses: 10 }),
        weights,
        batches: bs,
        numClasses: 10,
        settings,
      }),
    );
    disposeBatches(batches);
    model.dispose();

    const out = execFileSync(python, [script, dir], { encoding: "utf8", timeout: 300_000 });
    const theirs = (
      JSON.parse(out) as { values: { variant: string; value: number; loss: number }[] }
    ).values;
    console.info(
      `sharpness tfjs vs torch: ${ours.map((v, i) => `${v.variant} ${v.value.toPrecision(5)} / ${theirs[i]?.value.toPrecision(5)}`).join(", ")}`,
    );
    expect(theirs.map((v) => v.variant)).toEqual(ours.map((v) => v.variant));
    for (const [i, mine] of ours.entries()) {
      const t = theirs[i] as { variant: string; value: number; loss: number };
      expect(mine.value).toBeGreaterThan(0);
      expect(Math.abs(t.loss - mine.loss) / mine.loss).toBeLessThan(1e-4);
      expect(
        Math.abs(t.value - mine.value) / mine.value,
        `${mine.variant}: tfjs ${mine.value}, torch ${t.value}`,
      ).toBeLessThan(0.02);
    }
  });
});
