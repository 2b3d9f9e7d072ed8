import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { setPatchChunkLimit } from "./index.js";

type Pad =
  | "same"
  | "valid"
  | number
  | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

/** Deterministic pseudo-random floats in [-1, 1). */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** tfjs-core does not export conv2DBackpropFilter; run the kernel directly. */
function conv2DBackpropFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Pad,
  dataFormat: "NHWC" | "NCHW" = "NHWC",
): tf.Tensor4D {
  return tf
    .engine()
    .runKernel(
      "Conv2DBackpropFilter",
      { x, dy } as unknown as tf.NamedTensorMap,
      { strides, pad, dataFormat, filterShape } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor4D;
}

/** dW for given x, dy on the active backend, read back to the host. */
async function backpropFilter(c: Case, xv: Float32Array, dyv: Float32Array, dyShape: number[]) {
  const x = tf.tensor4d(xv, c.x);
  const dy = tf.tensor4d(dyv, dyShape as [number, number, number, number]);
  const dw = conv2DBackpropFilter(x, dy, c.filter, c.strides, c.pad);
  const values = await dw.data();
  tf.dispose([x, dy, dw]);
  return { values: Float32Array.from(values as Float32Array), shape: dw.shape };
}

/** max |a - b| / max |b|. */
function relError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return scale === 0 ? diff : diff / scale;
}

const CASES: Case[] = [
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 1, pad: "same" },
  { x: [2, 8, 9, 3], filter: [3, 2, 3, 5], strides: 2, pad: "valid" },
  { x: [1, 9, 9, 2], filter: [5, 5, 2, 3], strides: [2, 3], pad: "same" },
  { x: [3, 10, 10, 4], filter: [3, 3, 4, 6], strides: 2, pad: "same" },
  { x: [2, 6, 6, 2], filter: [3, 3, 2, 2], strides: 1, pad: 1 },
  {
    x: [2, 6, 7, 2],
    filter: [3, 3, 2, 2],
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  },
  // Many input channels (the planar copy of x is transposed in blocks).
  { x: [2, 6, 6, 16], filter: [3, 3, 16, 8], strides: 1, pad: "same" },
  { x: [2, 9, 7, 40], filter: [3, 3, 40, 3], strides: [2, 1], pad: "valid" },
  { x: [1, 5, 5, 1], filter: [1, 1, 1, 3], strides: 1, pad: "valid" },
  // Fewer taps than filters (the cnn's first conv): dy^T x patches, patches packed.
  { x: [4, 12, 12, 1], filter: [3, 3, 1, 32], strides: 1, pad: "same" },
  { x: [3, 9, 8, 2], filter: [3, 3, 2, 20], strides: 2, pad: "valid" },
];

describe("wasm Conv2DBackpropFilter", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("is missing from tfjs-backend-wasm and is registered by the overrides", async () => {
    const sel = await selectBackend("wasm");
    const o = sel.overrides.find((k) => k.kernelName === "Conv2DBackpropFilter");
    expect(o?.status).toBe("registered");
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined();
  });

  for (const [i, c] of CASES.entries()) {
    it(`matches cpu: x ${c.x} filter ${c.filter} strides ${c.strides} pad ${JSON.stringify(c.pad)}`, async () => {
      const xv = rand(size(c.x), 11 + i);
      // Output shape from a forward conv (same on both backends).
      await selectBackend("cpu");
      const y = tf.conv2d(
        tf.zeros(c.x) as tf.Tensor4D,
        tf.zeros(c.filter) as tf.Tensor4D,
        c.strides,
        c.pad as "same",
      );
      const dyShape = y.shape;
      y.dispose();
      const dyv = rand(size(dyShape), 101 + i);
      const ref = await backpropFilter(c, xv, dyv, dyShape);
      await selectBackend("wasm");
      const got = await backpropFilter(c, xv, dyv, dyShape);
      expect(got.shape).toEqual(c.filter);
      expect(relError(got.values, ref.values)).toBeLessThan(1e-5);
    });
  }

  it("gives the same result when the patch matrix is split into chunks", async () => {
    const c: Case = { x: [3, 9, 8, 3], filter: [3, 3, 3, 5], strides: 1, pad: "same" };
    const dyShape = [3, 9, 8, 5];
    const xv = rand(size(c.x), 7);
    const dyv = rand(size(dyShape), 8);
    const whole = await backpropFilter(c, xv, dyv, dyShape);
    // k = 27 rows of 72 columns per image: a 27 * 100 limit -> one image per chunk, 3 chunks.
    const previous = setPatchChunkLimit(27 * 100);
    try {
      const chunked = await backpropFilter(c, xv, dyv, dyShape);
      expect(relError(chunked.values, whole.values)).toBeLessThan(1e-6);
    } finally {
      setPatchChunkLimit(previous);
    }
  });

  it("gives the same result split into chunks when the product is taken the other way round (taps < filters)", async () => {
    const c: Case = { x: [3, 9, 8, 1], filter: [3, 3, 1, 16], strides: 1, pad: "same" };
    const dyShape = [3, 9, 8, 16];
    const xv = rand(size(c.x), 9);
    const dyv = rand(size(dyShape), 10);
    const whole = await backpropFilter(c, xv, dyv, dyShape);
    // k = 9 rows of 72 columns per image: one image per chunk, 3 chunks.
    const previous = setPatchChunkLimit(9 * 100);
    try {
      const chunked = await backpropFilter(c, xv, dyv, dyShape);
      expect(relError(chunked.values, whole.values)).toBeLessThan(1e-6);
    } finally {
      setPatchChunkLimit(previous);
    }
    await selectBackend("cpu");
    const ref = await backpropFilter(c, xv, dyv, dyShape);
    await selectBackend("wasm");
    expect(relError(whole.values, ref.values)).toBeLessThan(1e-5);
  });

  it("does not leak wasm tensors", async () => {
    const c = CASES[3] as Case;
    const x = tf.tensor4d(rand(size(c.x), 1), c.x);
    const dy = tf.tensor4d(rand(3 * 5 * 5 * 6, 2), [3, 5, 5, 6]);
    const before = tf.memory().numTensors;
    const bytesBefore = tf.engine().backend.numDataIds();
    const dw = conv2DBackpropFilter(x, dy, c.filter, c.strides, "same");
    await dw.data();
    dw.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(bytesBefore);
    tf.dispose([x, dy]);
  });

  it("rejects NCHW with a clear error", () => {
    const x = tf.zeros([1, 2, 5, 5]) as tf.Tensor4D;
    const dy = tf.zeros([1, 2, 5, 5]) as tf.Tensor4D;
    expect(() => conv2DBackpropFilter(x, dy, [3, 3, 2, 2], 1, "same", "NCHW")).toThrow(/NHWC/);
    tf.dispose([x, dy]);
  });

  it("lets a small conv net's filter gradients on wasm match cpu", async () => {
    // conv(3x3, 'same') -> relu -> conv(3x3, stride 2, 'valid') -> relu -> mean -> dense
    const xs = [4, 12, 12, 2] as const;
    const shapes = { w1: [3, 3, 2, 6], w2: [3, 3, 6, 8], w3: [8, 3] } as const;
    const xv = rand(size(xs), 21);
    const wv = {
      w1: rand(size(shapes.w1), 22).map((v) => v * 0.5),
      w2: rand(size(shapes.w2), 23).map((v) => v * 0.3),
      w3: rand(size(shapes.w3), 24),
    };
    const labels = [0, 1, 2, 1];

    async function grads(backend: "cpu" | "wasm") {
      await selectBackend(backend);
      const x = tf.tensor4d(xv, [...xs]);
      const w1 = tf.tensor4d(wv.w1, [...shapes.w1]);
      const w2 = tf.tensor4d(wv.w2, [...shapes.w2]);
      const w3 = tf.tensor2d(wv.w3, [...shapes.w3]);
      const y = tf.oneHot(tf.tensor1d(labels, "int32"), 3);
      const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const h1 = tf.relu(tf.conv2d(x, a as tf.Tensor4D, 1, "same"));
        const h2 = tf.relu(tf.conv2d(h1, b as tf.Tensor4D, 2, "valid"));
        const pooled = tf.mean(h2, [1, 2]);
        return tf.losses.softmaxCrossEntropy(y, tf.matMul(pooled, c as tf.Tensor2D));
      };
      const g = tf.grads(loss)([w1, w2, w3]);
      const out = await Promise.all(
        g.map(async (t) => Float32Array.from((await t.data()) as Float32Array)),
      );
      tf.dispose([x, w1, w2, w3, y, ...g]);
      return out;
    }

    const ref = await grads("cpu");
    const got = await grads("wasm");
    expect(got).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      const r = ref[i] as Float32Array;
      expect(r.some((v) => v !== 0)).toBe(true);
      expect(relError(got[i] as Float32Array, r)).toBeLessThan(1e-4);
    }
  });
});
