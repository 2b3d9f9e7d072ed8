import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { cpuAndWasm, maxRelError, nativeCalls, rand, size } from "./testing.js";

interface Case {
  x: [number, number, number, number];
  filter: number | [number, number];
  strides: number | [number, number];
  pad: "same" | "valid" | number;
}

const CASES: Case[] = [
  { x: [2, 8, 8, 5], filter: 2, strides: 2, pad: "valid" }, // the cnn's pool: whole 2x2 windows
  { x: [2, 7, 7, 3], filter: 2, strides: 2, pad: "same" }, // partial windows at the border
  { x: [2, 9, 9, 4], filter: 3, strides: 2, pad: "same" }, // overlapping windows
  { x: [1, 6, 7, 6], filter: 3, strides: 1, pad: "same" },
  { x: [2, 8, 9, 3], filter: [2, 3], strides: [1, 2], pad: "valid" },
  { x: [1, 5, 5, 2], filter: 2, strides: 1, pad: 1 },
];

/** MaxPoolGrad run directly, so that x may hold any values. */
function maxPoolGrad(c: Case, xv: Float32Array): tf.Tensor {
  const x = tf.tensor4d(xv, c.x);
  const y = tf.maxPool(x, c.filter, c.strides, c.pad);
  const dy = tf.tensor4d(rand(size(y.shape), 99), y.shape as [number, number, number, number]);
  return tf
    .engine()
    .runKernel(
      "MaxPoolGrad",
      { dy, input: x, output: y } as unknown as tf.NamedTensorMap,
      { filterSize: c.filter, strides: c.strides, pad: c.pad } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor;
}

/** Where the gradient went: the indices of the zero entries. */
function zeros(v: Float32Array | undefined): number[] {
  return [...(v ?? [])].flatMap((x, i) => (x === 0 ? [i] : []));
}

describe("wasm MaxPoolGrad", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  for (const [i, c] of CASES.entries()) {
    it(`matches cpu: x ${c.x} filter ${c.filter} strides ${c.strides} pad ${c.pad}`, async () => {
      const xv = rand(size(c.x), 7 + i);
      const { cpu, wasm } = await cpuAndWasm(() => maxPoolGrad(c, xv));
      expect(maxRelError(wasm, cpu)).toBeLessThan(1e-6);
    });
  }

  it("breaks ties as cpu does (zeros after a ReLU, repeated values)", async () => {
    for (const c of CASES.slice(0, 3)) {
      const xv = rand(size(c.x), 5).map((v) => (v < 0.3 ? 0 : Math.round(v * 4) / 4));
      const { cpu, wasm } = await cpuAndWasm(() => maxPoolGrad(c, xv));
      expect(maxRelError(wasm, cpu)).toBeLessThan(1e-6);
      expect(zeros(wasm.values[0])).toEqual(zeros(cpu.values[0]));
    }
  });

  it("treats NaN and -Infinity as cpu does", async () => {
    for (const c of CASES.slice(0, 3)) {
      const special = [Number.NaN, Number.NEGATIVE_INFINITY, 0.5];
      const xv = rand(size(c.x), 3).map((v, i) => (v < -0.2 ? (special[i % 3] as number) : v));
      const { cpu, wasm } = await cpuAndWasm(() => maxPoolGrad(c, xv));
      expect(maxRelError(wasm, cpu)).toBeLessThan(1e-6);
      expect(zeros(wasm.values[0])).toEqual(zeros(cpu.values[0]));
    }
  });

  it("replaces wasm's own kernel for float32", async () => {
    await selectBackend("wasm");
    const c = CASES[0] as Case;
    const calls = await nativeCalls("MaxPoolGrad", async () => {
      const dx = maxPoolGrad(c, rand(size(c.x), 1));
      await dx.data();
      dx.dispose();
    });
    expect(calls).toBe(0);
  });
});
