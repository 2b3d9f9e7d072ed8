/**
 * One optimizer step on a batch, shared by the Trainer and the benchmarks.
 * Everything it returns stays on the device: the caller reads the scalars in
 * windows (one sync for many steps) and disposes them.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { sumSquaresAdd } from "./kernels/fused-update.js";
import { softmaxXent, softmaxXentAvailable } from "./kernels/softmax-xent.js";
import type { Optimizer } from "./optimizers.js";

export interface StepModel {
  model: tfl.LayersModel;
  /** The model's trainable variables, in the optimizer's order. */
  variables: tf.Variable[];
  optimizer: Optimizer;
  numClasses: number;
}

export interface StepResult {
  loss: tf.Scalar;
  gradNormSq: tf.Scalar;
  /** Correctly classified examples in the batch. */
  correct: tf.Scalar;
  /** |g|^2 over the first quarter of the batch (two-batch noise estimate), when asked. */
  smallNormSq: tf.Scalar | null;
  smallSize: number;
}

/**
 * Cross-entropy loss; `correct` receives the batch's correct count (kept).
 * One fused kernel where the backend has it (cpu, wasm: softmax-xent.ts),
 * else tfjs's ops.
 */
function lossOf(
  m: StepModel,
  x: tf.Tensor,
  y: tf.Tensor,
  out?: { correct?: tf.Scalar },
): tf.Scalar {
  const logits = m.model.apply(x, { training: true }) as tf.Tensor2D;
  if (softmaxXentAvailable()) {
    const [loss, correct] = softmaxXent(logits, y);
    if (out) out.correct = tf.keep(correct);
    return loss;
  }
  if (out) out.correct = tf.keep(countCorrect(logits, y));
  return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
}

/**
 * Sum of squares over all gradients. A chain of two-input kernels
 * (acc + sum(g^2), one fused kernel per gradient where the backend has it),
 * not one AddN: WebGPU's AddN binds every input at once and fails past the
 * device's storage buffer limit (8 on many adapters; a cnn already has 10
 * weight tensors).
 */
function sumOfSquares(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    let total = tf.scalar(0);
    for (const g of grads) total = sumSquaresAdd(total, g);
    return total;
  });
}

/**
 * Trains one step: x is [n, h, w, c], labels n class indices. With
 * `measureNoise`, also takes the gradient over the first quarter of the batch at
 * the same weights (before the update), for the two-batch estimate of C.
 */
export function trainStep(
  m: StepModel,
  x: tf.Tensor4D,
  labels: Int32Array,
  lr: number,
  measureNoise: boolean,
): StepResult {
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, "int32"), m.numClasses));
  const out: { correct?: tf.Scalar } = {};
  const { value: loss, grads } = tf.variableGrads(() => lossOf(m, x, y, out), m.variables);
  const ordered = m.variables.map((v) => grads[v.name] as tf.Tensor);
  const gradNormSq = sumOfSquares(ordered);
  let smallNormSq: tf.Scalar | null = null;
  let smallSize = 0;
  if (measureNoise) {
    smallSize = Math.max(1, Math.floor(labels.length / 4));
    const xs = tf.slice(x, 0, smallSize);
    const ys = tf.slice(y, 0, smallSize);
    const small = tf.variableGrads(() => lossOf(m, xs, ys), m.variables);
    const smallGrads = m.variables.map((v) => small.grads[v.name] as tf.Tensor);
    smallNormSq = sumOfSquares(smallGrads);
    tf.dispose([xs, ys, small.value, ...smallGrads]);
  }
  m.optimizer.apply(ordered, lr);
  tf.dispose([y, ...ordered]);
  return { loss, gradNormSq, correct: out.correct as tf.Scalar, smallNormSq, smallSize };
}

export function countCorrect(logits: tf.Tensor2D, oneHot: tf.Tensor): tf.Scalar {
  return tf.tidy(
    () =>
      tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(oneHot, 1)), "float32")) as tf.Scalar,
  );
}
