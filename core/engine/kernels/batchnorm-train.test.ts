import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { afterAll, describe, expect, it } from "vitest";
import { batchNormalization } from "../../models/batch-norm.js";
import { probeBackends, selectBackend } from "../backends.js";
import {
  BATCH_NORM_GRAD_COEF,
  batchNormTrain,
  batchNormTrainAvailable,
  CHANNEL_AFFINE2,
  channelMoments,
  MOMENTS,
} from "./batchnorm-train.js";
import { type Computed, compute, kernelsRun, rand, relError, size } from "./testing.js";

const EPS = 1e-5;

/** Loss weights so that every output element gets its own gradient. */
function lossWeights(shape: number[]): tf.Tensor {
  return tf.tensor(rand(size(shape), 99), shape);
}

/** tfjs's own training computation (what tfjs-layers does): moments, then batchNorm. */
function reference(shape: number[], xv: Float32Array, offset = 0): tf.Tensor[] {
  const c = shape[shape.length - 1] as number;
  const x = tf.add(tf.tensor(xv, shape), offset);
  const gamma = tf.tensor1d(rand(c, 7).map((v) => 1 + v));
  const beta = tf.tensor1d(rand(c, 8));
  const w = lossWeights(shape);
  const axes = shape.slice(0, -1).map((_, i) => i);
  const f = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(xi, axes);
    return tf.batchNorm(xi, mean, variance, b, g, EPS);
  };
  const { mean, variance } = tf.moments(x, axes);
  const y = f(x, gamma, beta);
  const grads = tf.grads((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(f(xi, g, b), w)),
  )([x, gamma, beta]);
  return [y, mean, variance, ...grads];
}

/** The fused op, same inputs and loss. */
function fused(shape: number[], xv: Float32Array, offset = 0): tf.Tensor[] {
  const c = shape[shape.length - 1] as number;
  const x = tf.add(tf.tensor(xv, shape), offset);
  const gamma = tf.tensor1d(rand(c, 7).map((v) => 1 + v));
  const beta = tf.tensor1d(rand(c, 8));
  const w = lossWeights(shape);
  if (!batchNormTrainAvailable(x))
    throw new Error(`fused batch norm unavailable on ${tf.getBackend()}`);
  const { y, mean, variance } = batchNormTrain(x, gamma, beta, EPS);
  const grads = tf.grads((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(batchNormTrain(xi, g, b, EPS).y, w)),
  )([x, gamma, beta]);
  return [y, mean, variance, ...grads];
}

const NAMES = ["y", "mean", "variance", "dx", "dgamma", "dbeta"];

function expectClose(got: Computed, ref: Computed, tol: number): void {
  expect(got.shapes).toEqual(ref.shapes);
  for (const [i, v] of got.values.entries()) {
    const err = relError(v, ref.values[i] as Float32Array);
    expect(err, `${NAMES[i]}: relative error ${err}`).toBeLessThan(tol);
  }
}

const SHAPES: number[][] = [
  [2, 5, 5, 3],
  [4, 6, 6, 16],
  [3, 7],
  [2, 3, 3, 70],
];

describe("channelMoments", () => {
  it("equals a float64 two-pass computation, also with a large common offset", () => {
    const c = 5;
    const x = rand(40 * c, 3).map((v, i) => 1000 + v * (1 + (i % c)));
    const out = new Float32Array(2 * c);
    channelMoments(x, c, out);
    for (let j = 0; j < c; j++) {
      const col = Array.from({ length: 40 }, (_, r) => x[r * c + j] as number);
      const m = col.reduce((a, b) => a + b, 0) / 40;
      const v = col.reduce((a, b) => a + (b - m) ** 2, 0) / 40;
      expect(Math.abs((out[j] as number) - m) / m).toBeLessThan(1e-6);
      expect(Math.abs((out[c + j] as number) - v) / v).toBeLessThan(1e-5);
    }
  });
});

describe("batch norm in training as one op (batchNormTrain)", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  for (const backend of ["cpu", "wasm"] as const) {
    it(`matches tfjs's moments + batchNorm and their gradients on ${backend}`, async () => {
      // On wasm also a shape whose channels are a multiple of 4 and that is
      // large enough to be cut into parts (the SIMD loops and several chunks).
      const shapes = backend === "wasm" ? [...SHAPES, [16, 20, 20, 32]] : SHAPES;
      for (const shape of shapes) {
        const xv = rand(size(shape), 11);
        const ref = await compute("cpu", () => reference(shape, xv));
        const got = await compute(backend, () => fused(shape, xv));
        expectClose(got, ref, 2e-4);
      }
    });

    it(`keeps the variance accurate for data far from zero (two passes) on ${backend}`, async () => {
      const shape = [8, 4, 4, 6];
      const xv = rand(size(shape), 5);
      const ref = await compute("cpu", () => reference(shape, xv, 500));
      const got = await compute(backend, () => fused(shape, xv, 500));
      // tfjs's float32 reference itself loses digits at this offset; the
      // variance (row 2) and the gradients stay within 1e-3.
      expectClose(got, ref, 1e-3);
    });
  }

  it("runs far fewer kernels than tfjs's path, without Tile", async () => {
    await selectBackend("cpu");
    const shape = [4, 6, 6, 16];
    const xv = rand(size(shape), 2);
    const ours = await kernelsRun(() => fused(shape, xv));
    const theirs = await kernelsRun(() => reference(shape, xv));
    expect(ours.filter((k) => k === MOMENTS)).toHaveLength(2);
    expect(ours.filter((k) => k === CHANNEL_AFFINE2)).toHaveLength(1);
    expect(ours).not.toContain("SquaredDifference");
    expect(ours.filter((k) => k === BATCH_NORM_GRAD_COEF)).toHaveLength(1);
    expect(ours.length).toBeLessThan(theirs.length * 0.6);
    console.log(`kernels: fused ${ours.length}, tfjs ${theirs.length}`);
  });

  it("leaks no tensors", async () => {
    for (const backend of ["cpu", "wasm"] as const) {
      await selectBackend(backend);
      const shape = [2, 4, 4, 8];
      const xv = rand(size(shape), 4);
      await compute(backend, () => fused(shape, xv));
      const before = tf.memory().numTensors;
      const ids = tf.engine().backend.numDataIds();
      await compute(backend, () => fused(shape, xv));
      expect(tf.memory().numTensors).toBe(before);
      expect(tf.engine().backend.numDataIds()).toBe(ids);
    }
  });
});

describe("FusedBatchNormalization layer", () => {
  /** One training call and one gradient of a layer, plus its moving statistics and inference output. */
  function layerRun(make: () => tfl.layers.Layer, shape: number[]): tf.Tensor[] {
    const c = shape[shape.length - 1] as number;
    const layer = make();
    const x = tf.tensor(rand(size(shape), 21), shape);
    layer.build(shape);
    layer.setWeights([
      tf.tensor1d(rand(c, 1).map((v) => 1 + v)),
      tf.tensor1d(rand(c, 2)),
      tf.zeros([c]),
      tf.ones([c]),
    ]);
    const w = lossWeights(shape);
    const vars = layer.trainableWeights.map((v) => v.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, w)) as tf.Scalar,
      vars,
    );
    const inference = layer.apply(x, { training: false }) as tf.Tensor;
    const moving = layer.getWeights().slice(2);
    return [value, ...vars.map((v) => grads[v.name] as tf.Tensor), ...moving, inference];
  }

  it("trains, updates its moving statistics and infers exactly like tfjs-layers' own", async () => {
    const shape = [4, 5, 5, 6];
    const args = { axis: -1, momentum: 0.9, epsilon: EPS };
    for (const backend of ["cpu", "wasm"] as const) {
      const ours = await compute(backend, () => layerRun(() => batchNormalization(args), shape));
      const theirs = await compute(backend, () =>
        layerRun(() => tfl.layers.batchNormalization(args), shape),
      );
      expect(ours.shapes).toEqual(theirs.shapes);
      for (const [i, v] of ours.values.entries()) {
        expect(relError(v, theirs.values[i] as Float32Array)).toBeLessThan(1e-4);
      }
    }
  });

  it("takes the fused path on wasm too (its kernels on the kernel pool)", async () => {
    await selectBackend("wasm");
    const shape = [2, 4, 4, 8];
    const layer = batchNormalization({ axis: -1, momentum: 0.9, epsilon: EPS });
    layer.build(shape);
    const x = tf.tensor(rand(size(shape), 3), shape);
    expect(batchNormTrainAvailable(x)).toBe(true);
    const training = await kernelsRun(() => layer.apply(x, { training: true }) as tf.Tensor);
    expect(training).toContain(MOMENTS);
    expect(training).toContain("FusedBatchNorm");
    expect(training).not.toContain("Mean");
    x.dispose();
  });

  it("takes the fused path in training only", async () => {
    await selectBackend("cpu");
    const shape = [2, 4, 4, 8];
    const layer = batchNormalization({ axis: -1, momentum: 0.9, epsilon: EPS });
    layer.build(shape);
    const x = tf.tensor(rand(size(shape), 3), shape);
    const training = await kernelsRun(() => layer.apply(x, { training: true }) as tf.Tensor);
    const inference = await kernelsRun(() => layer.apply(x, { training: false }) as tf.Tensor);
    expect(training).toContain(MOMENTS);
    expect(inference).not.toContain(MOMENTS);
    x.dispose();
  });

  it("is tfjs-layers' BatchNormalization to serialisation (same class name and config)", () => {
    const layer = batchNormalization({ axis: -1, momentum: 0.9, epsilon: EPS, name: "bn" });
    const plain = tfl.layers.batchNormalization({
      axis: -1,
      momentum: 0.9,
      epsilon: EPS,
      name: "bn",
    });
    expect(layer.getClassName()).toBe("BatchNormalization");
    expect(layer.getConfig()).toEqual(plain.getConfig());
  });
});

describe("batch norm in training on webgpu", async () => {
  const [probe] = await probeBackends({ only: ["webgpu"] });
  if (!probe?.available) console.warn(`skipping: no webgpu adapter (${probe?.reason})`);
  const gpu = it.skipIf(!probe?.available && !process.env.CI);

  afterAll(async () => {
    await selectBackend("cpu");
  });

  gpu("matches tfjs's moments + batchNorm and their gradients (computed on cpu)", async () => {
    for (const shape of [...SHAPES, [8, 8, 8, 64]]) {
      const xv = rand(size(shape), 13);
      const ref = await compute("cpu", () => reference(shape, xv));
      const got = await compute("webgpu", () => fused(shape, xv));
      expectClose(got, ref, 2e-4);
    }
  });

  gpu("runs the three WGSL kernels, and leaks nothing", async () => {
    await selectBackend("webgpu");
    const shape = [4, 6, 6, 16];
    const xv = rand(size(shape), 2);
    const names = await kernelsRun(() => fused(shape, xv));
    expect(names).toContain(MOMENTS);
    expect(names).toContain(CHANNEL_AFFINE2);
    await compute("webgpu", () => fused(shape, xv));
    const before = tf.memory().numTensors;
    const ids = tf.engine().backend.numDataIds();
    await compute("webgpu", () => fused(shape, xv));
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(ids);
  });
});
