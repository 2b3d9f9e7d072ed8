/**
 * The real WebGPU backend (Dawn). In CI it runs on Mesa's lavapipe (see
 * core/engine/LAVAPIPE.md). Skipped, saying why, only when Dawn finds no
 * adapter; any other failure (package missing, Dawn not loading) fails.
 * In webgpu on Node, read tensors with `await data()`, never dataSync().
 */
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { createModel } from "../models/index.js";
import { probeBackends, selectBackend } from "./backends.js";

const [probe] = await probeBackends({ only: ["webgpu"] });
const noAdapter = !probe?.available && /^no WebGPU adapter/.test(probe?.reason ?? "");
if (noAdapter) {
  console.warn(`WebGPU tests skipped: ${probe?.reason}\n  fix: ${probe?.fix}`);
}
const skipNote = noAdapter ? ` [skipped: ${probe?.reason}]` : "";

describe.skipIf(noAdapter)(`webgpu backend${skipNote}`, () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("probes an adapter and activates the backend", async () => {
    expect(probe?.available, probe?.reason).toBe(true);
    const sel = await selectBackend("webgpu");
    expect(sel.name).toBe("webgpu");
    expect(tf.getBackend()).toBe("webgpu");
    const adapter = probe?.details.adapter as {
      description: string;
      limits: Record<string, number>;
    };
    expect(typeof adapter.description).toBe("string");
    expect(adapter.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
  });

  it("computes the Mean gradient (project override) like the cpu backend", async () => {
    const xv = Float32Array.from({ length: 4 * 3 * 3 * 5 }, (_, i) => Math.sin(i * 1.7));
    const wv = Float32Array.from({ length: 5 }, (_, i) => i - 2);
    async function grad(backend: "cpu" | "webgpu") {
      await selectBackend(backend);
      const x = tf.tensor4d(xv, [4, 3, 3, 5]);
      const w = tf.tensor1d(wv);
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, [0, 1, 2]), w)))(x);
      const out = Float32Array.from((await g.data()) as Float32Array);
      tf.dispose([x, w, g]);
      return out;
    }
    const ref = await grad("cpu");
    const got = await grad("webgpu");
    for (let i = 0; i < ref.length; i++) expect(got[i]).toBeCloseTo(ref[i] as number, 5);
  });

  it("trains a tiny conv net a few steps and the loss goes down", async () => {
    await selectBackend("webgpu");
    const model = createModel("cnn", { inputShape: [8, 8, 1], numClasses: 3, seed: 7 });
    const n = 12;
    const xs = tf.tidy(() => tf.randomNormal([n, 8, 8, 1], 0, 1, "float32", 3));
    const labels = Array.from({ length: n }, (_, i) => i % 3);
    // Make the classes separable: shift each class's images by its label.
    const x = tf.tidy(() =>
      tf.add(xs, tf.reshape(tf.tensor1d(labels.map((l) => l - 1)), [n, 1, 1, 1])),
    );
    const y = tf.oneHot(tf.tensor1d(labels, "int32"), 3);
    const optimizer = tf.train.sgd(0.05);
    const losses: number[] = [];
    for (let step = 0; step < 6; step++) {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor),
        true,
      ) as tf.Scalar;
      losses.push(((await loss.data()) as Float32Array)[0] as number);
      loss.dispose();
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan((losses[0] as number) * 0.9);
    tf.dispose([xs, x, y]);
    optimizer.dispose();
    model.dispose();
  });
});
