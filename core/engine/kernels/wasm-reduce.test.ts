import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { cpuAndWasm, maxRelError, nativeCalls, rand, size } from "./testing.js";
import { middleBlock } from "./wasm-reduce.js";

const CASES: { shape: number[]; axis: number[]; keepDims: boolean }[] = [
  { shape: [16, 7, 7, 6], axis: [0, 1, 2], keepDims: false }, // batch norm's moments
  { shape: [16, 7, 7, 6], axis: [0, 1, 2], keepDims: true },
  { shape: [4, 5, 6, 7], axis: [1, 2], keepDims: false }, // global average pool
  { shape: [4, 5, 6, 7], axis: [0], keepDims: true },
  { shape: [300, 5], axis: [0], keepDims: false }, // a dense layer's bias gradient
  { shape: [4, 5, 6], axis: [1], keepDims: false },
  { shape: [3, 130, 9], axis: [0, 1], keepDims: false }, // more rows than one tile
  { shape: [4, 5, 6], axis: [2], keepDims: false }, // innermost: wasm's own kernel
  { shape: [4, 5, 6], axis: [0, 2], keepDims: false }, // not contiguous: wasm's own kernel
];

describe("wasm Sum and Mean over leading / middle axes", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("views the reduced axes as the middle of [outer, rows, inner]", () => {
    expect(middleBlock([16, 7, 7, 6], [0, 1, 2])).toEqual({ outer: 1, rows: 784, inner: 6 });
    expect(middleBlock([4, 5, 6, 7], [2, 1])).toEqual({ outer: 4, rows: 30, inner: 7 });
    expect(middleBlock([4, 5, 6], [2])).toBeNull();
    expect(middleBlock([4, 5, 6], [0, 2])).toBeNull();
  });

  for (const [i, c] of CASES.entries()) {
    it(`matches cpu: shape [${c.shape}] axis [${c.axis}] keepDims ${c.keepDims}`, async () => {
      const xv = rand(size(c.shape), 50 + i).map((v) => v + 0.25);
      const { cpu, wasm } = await cpuAndWasm(() => {
        const x = tf.tensor(xv, c.shape);
        return [tf.sum(x, c.axis, c.keepDims), tf.mean(x, c.axis, c.keepDims)];
      });
      expect(maxRelError(wasm, cpu)).toBeLessThan(1e-6);
    });
  }

  it("leaves int32 and innermost reductions to wasm's own kernels", async () => {
    const { cpu, wasm } = await cpuAndWasm(() => {
      const x = tf.tensor([1, 2, 3, 4, 5, 6], [3, 2], "int32");
      return tf.cast(tf.sum(x, 0), "float32");
    });
    expect(wasm.values).toEqual(cpu.values);
    await selectBackend("wasm");
    const x = tf.tensor(rand(24, 1), [2, 3, 4]);
    expect(await nativeCalls("Sum", () => tf.sum(x, 2).data())).toBe(1);
    expect(await nativeCalls("Sum", () => tf.sum(x, [0, 1]).data())).toBe(0);
    expect(await nativeCalls("Mean", () => tf.mean(x, [0, 1]).data())).toBe(0);
    x.dispose();
  });
});
