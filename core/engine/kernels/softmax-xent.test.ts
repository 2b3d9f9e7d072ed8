// The fused softmax cross-entropy (softmax-xent.ts) against tfjs's ops, on
// cpu and wasm: the loss, the correct count, the logits' gradient, bad
// inputs, and a training step that takes the fused path with fewer kernels.
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { createModel } from "../../models/index.js";
import { selectBackend } from "../backends.js";
import { Optimizer } from "../optimizers.js";
import { countCorrect, trainStep } from "../step.js";
import { SOFTMAX_XENT, setFusedLoss, softmaxXent, softmaxXentAvailable } from "./softmax-xent.js";
import { compute, kernelsRun, maxRelError, rand } from "./testing.js";

afterAll(async () => {
  setFusedLoss(true);
  await selectBackend("cpu");
});

/** Loss, correct count and the loss's gradient w.r.t. logits: fused, or tfjs's ops. */
function lossAndGrad(
  logitsV: Float32Array,
  labelsV: Float32Array | Int32Array,
  n: number,
  c: number,
  useFused: boolean,
) {
  return () => {
    const logits = tf.tensor2d(logitsV, [n, c]);
    const labels = tf.tensor2d(
      labelsV,
      [n, c],
      labelsV instanceof Int32Array ? "int32" : "float32",
    );
    const f = (l: tf.Tensor) =>
      useFused
        ? softmaxXent(l, labels)[0]
        : (tf.losses.softmaxCrossEntropy(labels, l) as tf.Scalar);
    const { value, grad } = tf.valueAndGrad(f)(logits);
    const correct = useFused
      ? softmaxXent(logits, labels)[1]
      : countCorrect(logits as tf.Tensor2D, labels);
    return [value, correct, grad];
  };
}

describe("SgdStudioSoftmaxXent", () => {
  const n = 37;
  const c = 10;
  const logits = rand(n * c, 7).map((v) => v * 6);
  const oneHot = new Int32Array(n * c);
  for (let i = 0; i < n; i++) oneHot[i * c + ((i * 7) % c)] = 1;
  // Soft labels (rows of weights summing to 1, as label smoothing gives).
  const soft = Float32Array.from(oneHot, (v) => v * 0.9 + 0.01);

  for (const backend of ["cpu", "wasm"] as const) {
    it(`equals tfjs's loss, correct count and gradient on ${backend} (one-hot int32 and soft float32 labels)`, async () => {
      for (const labels of [oneHot, soft]) {
        const fusedOut = await compute(backend, lossAndGrad(logits, labels, n, c, true));
        const ref = await compute(backend, lossAndGrad(logits, labels, n, c, false));
        expect(maxRelError(fusedOut, ref)).toBeLessThan(2e-6);
        // Not vacuous: some rows right, some wrong; a real loss.
        const correct = fusedOut.values[1]?.[0] as number;
        expect(correct).toBeGreaterThan(0);
        expect(correct).toBeLessThan(n);
        expect(fusedOut.values[0]?.[0]).toBeGreaterThan(0.5);
      }
      await selectBackend(backend);
      expect(softmaxXentAvailable()).toBe(true);
    });
  }

  it("gives NaN for NaN logits, and says what is wrong with bad shapes", async () => {
    await selectBackend("wasm");
    const bad = Float32Array.from(logits);
    bad[5] = Number.NaN;
    const [loss] = softmaxXent(tf.tensor2d(bad, [n, c]), tf.tensor2d(oneHot, [n, c], "int32"));
    expect(Number.isNaN((await loss.data())[0])).toBe(true);
    expect(() => softmaxXent(tf.zeros([4, 3]), tf.zeros([4, 2]))).toThrow(
      /logits and labels must both be \[rows, classes\]/,
    );
    expect(() => softmaxXent(tf.zeros([4, 3]), tf.zeros([4, 3], "bool"))).toThrow(
      /labels must be float32 or int32/,
    );
  });

  it("is one kernel in a training step (tfjs's loss: ~40), with the same step within float rounding", async () => {
    await selectBackend("wasm");
    const stepWith = async (useFused: boolean) => {
      setFusedLoss(useFused);
      const model = createModel("mlp", { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const optimizer = new Optimizer({ kind: "sgd" }, variables);
      const m = { model, variables, optimizer, numClasses: 10 };
      const x = tf.tensor4d(rand(16 * 784, 11), [16, 28, 28, 1]);
      const labels = Int32Array.from({ length: 16 }, (_, i) => (i * 3) % 10);
      let result: { loss: number; correct: number } = { loss: 0, correct: 0 };
      const kernels = await kernelsRun(() => {
        const r = trainStep(m, x, labels, 0.1, false);
        return [r.loss, r.correct, r.gradNormSq];
      });
      const r = trainStep(m, x, labels, 0.1, false);
      result = {
        loss: (await r.loss.data())[0] as number,
        correct: (await r.correct.data())[0] as number,
      };
      const weights = await Promise.all(variables.map((v) => v.data()));
      tf.dispose([r.loss, r.correct, r.gradNormSq, x]);
      optimizer.dispose();
      model.dispose();
      return { kernels, result, weights };
    };
    const fusedStep = await stepWith(true);
    const plain = await stepWith(false);
    expect(fusedStep.kernels).toContain(SOFTMAX_XENT);
    expect(plain.kernels).not.toContain(SOFTMAX_XENT);
    expect(plain.kernels.length - fusedStep.kernels.length).toBeGreaterThan(25);
    // The second step (after one update each) agrees: loss, count and every weight.
    expect(Math.abs(fusedStep.result.loss - plain.result.loss)).toBeLessThan(1e-5);
    expect(fusedStep.result.correct).toBe(plain.result.correct);
    for (let i = 0; i < fusedStep.weights.length; i++) {
      const a = fusedStep.weights[i] as Float32Array;
      const b = plain.weights[i] as Float32Array;
      let d = 0;
      for (let j = 0; j < a.length; j++)
        d = Math.max(d, Math.abs((a[j] as number) - (b[j] as number)));
      expect(d).toBeLessThan(1e-5);
    }
  });
});
