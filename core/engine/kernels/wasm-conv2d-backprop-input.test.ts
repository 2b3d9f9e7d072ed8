import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { cpuAndWasm, maxRelError, nativeCalls, rand, size } from "./testing.js";
import { COL2IM_MAX_CIN } from "./wasm-conv2d-backprop-input.js";
import { nativeWasmKernel } from "./wasm-util.js";

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

// Both routes: cin < COL2IM_MAX_CIN (matmul + col2im) and wider (conv).
const CASES: Case[] = [
  { x: [2, 8, 8, 1], filter: [3, 3, 1, 6], strides: 1, pad: "same" },
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 2, pad: "same" },
  { x: [2, 9, 8, 2], filter: [3, 2, 2, 5], strides: [2, 3], pad: "valid" },
  { x: [2, 6, 6, 8], filter: [3, 3, 8, 5], strides: 1, pad: "same" },
  { x: [2, 9, 9, 12], filter: [3, 3, 12, 6], strides: 2, pad: "same" },
  { x: [1, 9, 10, 9], filter: [5, 3, 9, 4], strides: [2, 3], pad: "valid" },
  { x: [2, 7, 7, 10], filter: [3, 3, 10, 4], strides: 1, pad: 1 },
  {
    x: [2, 6, 7, 9],
    filter: [3, 3, 9, 3],
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  },
  // Forward padding wider than the filter: handed to wasm's own kernel.
  { x: [1, 5, 5, 8], filter: [3, 3, 8, 2], strides: 1, pad: 3 },
];

/** dx of conv2d(x, filter) for a given dy, on the active backend. */
function backpropInput(c: Case, dyv: Float32Array, fv: Float32Array, dyShape: number[]) {
  const dy = tf.tensor4d(dyv, dyShape as [number, number, number, number]);
  const w = tf.tensor4d(fv, c.filter);
  return tf.conv2dTranspose(dy, w, c.x, c.strides, c.pad as "same");
}

describe("wasm Conv2DBackpropInput", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("replaces wasm's own kernel, which stays available for fallbacks", async () => {
    const sel = await selectBackend("wasm");
    const o = sel.overrides.find((k) => k.kernelName === "Conv2DBackpropInput");
    expect(o).toMatchObject({ kind: "replace", backend: "wasm", status: "registered" });
    expect(nativeWasmKernel("Conv2DBackpropInput")?.kernelFunc).toBeDefined();
    expect(nativeWasmKernel("Conv2DBackpropInput")?.kernelFunc).not.toBe(
      tf.getKernel("Conv2DBackpropInput", "wasm")?.kernelFunc,
    );
  });

  for (const [i, c] of CASES.entries()) {
    const route = c.x[3] < COL2IM_MAX_CIN ? "col2im" : "conv";
    it(`matches cpu (${route}): x ${c.x} filter ${c.filter} strides ${c.strides} pad ${JSON.stringify(c.pad)}`, async () => {
      const y = tf.conv2d(
        tf.zeros(c.x) as tf.Tensor4D,
        tf.zeros(c.filter) as tf.Tensor4D,
        c.strides,
        c.pad as "same",
      );
      const dyShape = y.shape;
      tf.dispose(y);
      const dyv = rand(size(dyShape), 31 + i);
      const fv = rand(size(c.filter), 41 + i);
      const { cpu, wasm } = await cpuAndWasm(() => backpropInput(c, dyv, fv, dyShape));
      expect(wasm.shapes).toEqual([c.x]);
      expect(maxRelError(wasm, cpu)).toBeLessThan(1e-5);
    });
  }

  it("does not leak wasm memory", async () => {
    await selectBackend("wasm");
    for (const c of [CASES[0], CASES[4]] as Case[]) {
      const y = tf.conv2d(
        tf.zeros(c.x) as tf.Tensor4D,
        tf.zeros(c.filter) as tf.Tensor4D,
        c.strides,
        c.pad as "same",
      );
      const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
      const w = tf.randomNormal(c.filter) as tf.Tensor4D;
      const ids = tf.engine().backend.numDataIds();
      const tensors = tf.memory().numTensors;
      const dx = tf.conv2dTranspose(dy, w, c.x, c.strides, c.pad as "same");
      await dx.data();
      dx.dispose();
      expect(tf.engine().backend.numDataIds()).toBe(ids);
      expect(tf.memory().numTensors).toBe(tensors);
      tf.dispose([y, dy, w]);
    }
  });

  it("runs as a matmul or a convolution, and hands over only what it does not cover", async () => {
    await selectBackend("wasm");
    const run = (c: Case) => async () => {
      const y = tf.conv2d(
        tf.zeros(c.x) as tf.Tensor4D,
        tf.zeros(c.filter) as tf.Tensor4D,
        c.strides,
        c.pad as "same",
      );
      const dx = backpropInput(c, rand(size(y.shape), 1), rand(size(c.filter), 2), y.shape);
      await dx.data();
      tf.dispose([y, dx]);
    };
    for (const c of CASES.slice(0, -1)) {
      expect(await nativeCalls("Conv2DBackpropInput", run(c))).toBe(0);
    }
    expect(await nativeCalls("Conv2DBackpropInput", run(CASES.at(-1) as Case))).toBe(1);
  });
});
