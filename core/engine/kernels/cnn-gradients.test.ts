/**
 * End to end: the gradients of the cnn model's loss w.r.t. all its weights
 * on wasm (with every override in effect) against the cpu backend, and the
 * kernels a wasm training step runs.
 */
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { createModel } from "../../models/index.js";
import { selectBackend } from "../backends.js";
import { kernelsRun, nativeCallsOf, rand, relError, size } from "./testing.js";

// Small: tfjs's cpu Conv2DBackpropFilter is very slow (~2 s per image here).
const BATCH = 2;
const INPUT = [28, 28, 1];
const xv = rand(BATCH * size(INPUT), 17).map((v) => v + 0.2);
const labels = Int32Array.from({ length: BATCH }, (_, i) => (i * 3 + 1) % 10);

interface Grads {
  names: string[];
  values: Float32Array[];
  loss: number;
}

/** Weights of a freshly built cnn (seed 0), as read on cpu. */
let weights: { values: Float32Array; shape: number[] }[] = [];

async function cnnGrads(backend: "cpu" | "wasm"): Promise<Grads> {
  await selectBackend(backend);
  const model = createModel("cnn", { inputShape: INPUT, numClasses: 10, seed: 0 });
  if (weights.length === 0) {
    weights = await Promise.all(
      model.getWeights().map(async (w) => ({
        values: Float32Array.from((await w.data()) as Float32Array),
        shape: [...w.shape],
      })),
    );
  } else {
    model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
  }
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.tensor4d(xv, [BATCH, ...INPUT] as [number, number, number, number]);
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), 10);
  const { value, grads } = tf.variableGrads(
    () =>
      tf.losses.softmaxCrossEntropy(
        y,
        model.apply(x, { training: true }) as tf.Tensor,
      ) as tf.Scalar,
    variables,
  );
  const names = variables.map((v) => v.name);
  const values = await Promise.all(
    variables.map(async (v) => Float32Array.from((await grads[v.name]?.data()) as Float32Array)),
  );
  const loss = (await value.data())[0] as number;
  tf.dispose([x, y, value, ...Object.values(grads)]);
  model.dispose();
  return { names, values, loss };
}

describe("cnn gradients on wasm vs cpu", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("agree for every weight (conv kernels, batch norm gamma/beta, dense kernels and biases)", async () => {
    const cpu = await cnnGrads("cpu");
    const wasm = await cnnGrads("wasm");
    const base = (n: string) => n.replace(/_\d+$/, "");
    expect(wasm.names.map(base)).toEqual(cpu.names.map(base));
    expect(cpu.values.length).toBe(10); // 2 convs, 2 x (gamma, beta), 2 x (kernel, bias)
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-5 * Math.abs(cpu.loss));
    for (const [i, ref] of cpu.values.entries()) {
      expect(ref.some((v) => v !== 0)).toBe(true);
      const err = relError(wasm.values[i] as Float32Array, ref);
      expect(err, `${cpu.names[i]}: relative error ${err}`).toBeLessThan(2e-5);
    }
  });

  it("a wasm training step runs none of wasm's own slow kernels", async () => {
    await selectBackend("wasm");
    const model = createModel("cnn", { inputShape: INPUT, numClasses: 10, seed: 0 });
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const x = tf.tensor4d(xv, [BATCH, ...INPUT] as [number, number, number, number]);
    const y = tf.oneHot(tf.tensor1d(labels, "int32"), 10);
    let kernels: string[] = [];
    const slow = ["Conv2DBackpropInput", "MaxPoolGrad", "Tile", "FusedBatchNorm", "Identity"];
    const replaced = ["Conv2DBackpropInput", "MaxPoolGrad", "FusedBatchNorm", "Identity"];
    const counts = await nativeCallsOf(slow, async () => {
      kernels = await kernelsRun(() => {
        const { value, grads } = tf.variableGrads(
          () =>
            tf.losses.softmaxCrossEntropy(
              y,
              model.apply(x, { training: true }) as tf.Tensor,
            ) as tf.Scalar,
          variables,
        );
        return [value, ...Object.values(grads)];
      });
    });
    expect(counts).toEqual(Object.fromEntries(slow.map((k) => [k, 0])));
    // wasm trains batch norm as one op (its kernels on the kernel pool):
    // no Tile, no moments through Mean / Square; ReLU's gradient is one kernel.
    for (const k of [
      ...replaced,
      "Conv2DBackpropFilter",
      "SgdStudioMoments",
      "SgdStudioBatchNormGradStats",
      "SgdStudioChannelAffine2",
      "SgdStudioReluGrad",
    ]) {
      expect(kernels).toContain(k);
    }
    for (const k of ["Tile", "Square", "Step", "Mean"]) expect(kernels).not.toContain(k);
    tf.dispose([x, y]);
    model.dispose();
  });
});
