import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { cpuAndWasm, kernelsRun, maxRelError, nativeCalls, rand, size } from "./testing.js";

const CASES: [number[], number[]][] = [
  [
    [1, 1, 1, 5],
    [4, 3, 2, 1],
  ], // broadcasting a per-channel vector
  [
    [2, 3, 4],
    [1, 1, 1],
  ],
  [
    [2, 3, 4],
    [3, 2, 5],
  ],
  [
    [3, 1, 2],
    [2, 4, 3],
  ],
  [[7], [9]],
  [
    [2, 1],
    [1, 200],
  ],
];

describe("wasm Tile", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  for (const [i, [shape, reps]] of CASES.entries()) {
    it(`matches cpu: [${shape}] x reps [${reps}]`, async () => {
      const xv = rand(size(shape), 80 + i);
      const { cpu, wasm } = await cpuAndWasm(() => tf.tile(tf.tensor(xv, shape), reps));
      expect(maxRelError(wasm, cpu)).toBe(0);
    });
  }

  it("tiles int32 and bool; hands nothing to wasm's own kernel", async () => {
    await selectBackend("wasm");
    const calls = await nativeCalls("Tile", async () => {
      const i = tf.tile(tf.tensor([1, 2, 3], [3, 1], "int32"), [2, 2]);
      expect(Array.from(await i.data())).toEqual([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
      const b = tf.tile(tf.tensor([1, 0], [2], "bool"), [2]);
      expect(b.dtype).toBe("bool");
      expect(Array.from(await b.data())).toEqual([1, 0, 1, 0]);
      tf.dispose([i, b]);
    });
    expect(calls).toBe(0);
  });

  it("lets the Mean gradient broadcast with Tile on wasm", async () => {
    await selectBackend("wasm");
    const x = tf.tensor(rand(2 * 3 * 4 * 5, 1), [2, 3, 4, 5]);
    const kernels = await kernelsRun(() =>
      tf.grad((a: tf.Tensor) => tf.sum(tf.mean(a, [0, 1, 2])))(x),
    );
    expect(kernels).toContain("Tile");
    expect(kernels).not.toContain("OnesLike");
    x.dispose();
  });
});
