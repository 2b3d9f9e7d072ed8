import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { cpuAndWasm, maxRelError, nativeCalls, rand, size } from "./testing.js";

const C = 6;
const shape = [3, 5, 4, C];
const xv = rand(size(shape), 1).map((v) => 3 * v + 1);
const mv = rand(C, 2);
const vv = rand(C, 3).map((v) => v * v + 0.1);
const ov = rand(C, 4);
const sv = rand(C, 5);

describe("wasm FusedBatchNorm (forward)", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  const variants: [string, (x: tf.Tensor) => tf.Tensor][] = [
    [
      "rank-1 statistics, offset and scale",
      (x) =>
        tf.batchNorm(x, tf.tensor1d(mv), tf.tensor1d(vv), tf.tensor1d(ov), tf.tensor1d(sv), 1e-3),
    ],
    ["no offset, no scale", (x) => tf.batchNorm(x, tf.tensor1d(mv), tf.tensor1d(vv))],
    [
      "[1,1,1,C] statistics (tfjs-layers' broadcast form)",
      (x) =>
        tf.batchNorm(
          x,
          tf.tensor(mv, [1, 1, 1, C]),
          tf.tensor(vv, [1, 1, 1, C]),
          tf.tensor(ov, [1, 1, 1, C]),
          tf.tensor(sv, [1, 1, 1, C]),
          1e-5,
        ),
    ],
    [
      "per-position statistics (wasm's own kernel)",
      (x) => {
        const p = (seed: number, f: (v: number) => number) =>
          tf.tensor(rand(4 * C, seed).map(f), [4, C]);
        return tf.batchNorm(
          x,
          p(6, (v) => v),
          p(7, (v) => v * v + 0.1),
          p(8, (v) => v),
          p(9, (v) => v),
        );
      },
    ],
  ];
  for (const [name, f] of variants) {
    it(`matches cpu: ${name}`, async () => {
      const { cpu, wasm } = await cpuAndWasm(() => f(tf.tensor(xv, shape)));
      expect(maxRelError(wasm, cpu)).toBeLessThan(1e-6);
    });
  }

  it("uses wasm's own kernel only where the statistics are not per channel", async () => {
    await selectBackend("wasm");
    const x = tf.tensor(xv, shape);
    const run = (f: (x: tf.Tensor) => tf.Tensor) => async () => {
      const y = tf.tidy(() => f(x));
      await y.data();
      y.dispose();
    };
    const [, perChannel] = variants[0] as [string, (x: tf.Tensor) => tf.Tensor];
    const [, perPosition] = variants[3] as [string, (x: tf.Tensor) => tf.Tensor];
    const ids = tf.engine().backend.numDataIds();
    expect(await nativeCalls("FusedBatchNorm", run(perChannel))).toBe(0);
    expect(tf.engine().backend.numDataIds()).toBe(ids);
    expect(await nativeCalls("FusedBatchNorm", run(perPosition))).toBe(1);
    x.dispose();
  });
});
