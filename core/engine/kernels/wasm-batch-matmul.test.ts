import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { cpuAndWasm, maxRelError, nativeCalls, rand, size } from "./testing.js";
import { transposeBatched } from "./wasm-batch-matmul.js";

describe("wasm BatchMatMul with transposed operands", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("transposes in blocks", () => {
    const x = Float32Array.from({ length: 2 * 35 * 37 }, (_, i) => i);
    const out = new Float32Array(x.length);
    transposeBatched(x, 2, 35, 37, out);
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < 35; i++) {
        for (let j = 0; j < 37; j++) {
          expect(out[b * 35 * 37 + j * 35 + i]).toBe(x[b * 35 * 37 + i * 37 + j]);
        }
      }
    }
  });

  const cases: [number[], number[], boolean, boolean][] = [
    [[70, 33], [70, 20], true, false], // a dense layer's weight gradient x^T dy
    [[40, 20], [33, 20], false, true], // its input gradient dy W^T
    [[8, 20], [70, 20], false, true], // the same with a wide W (n >= 4m): (W x dy^T)^T
    [[1, 8, 20], [70, 20], false, true], // likewise, rank 3
    [[33, 70], [20, 33], true, true],
    [[3, 9, 5], [3, 9, 4], true, false], // batched
    [[2, 6, 5], [1, 4, 5], false, true], // batched, broadcast b
    [[12, 7], [7, 5], false, false], // no transpose: wasm's own kernel
  ];
  for (const [i, [as, bs, ta, tb]] of cases.entries()) {
    it(`matches cpu: [${as}]${ta ? "^T" : ""} x [${bs}]${tb ? "^T" : ""}`, async () => {
      const av = rand(size(as), 60 + i);
      const bv = rand(size(bs), 70 + i);
      const { cpu, wasm } = await cpuAndWasm(() =>
        tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb),
      );
      expect(maxRelError(wasm, cpu)).toBeLessThan(1e-5);
    });
  }

  it("runs unbatched products without wasm's own kernel, batched ones with it, and leaks nothing", async () => {
    await selectBackend("wasm");
    const a = tf.tensor(rand(70 * 33, 1), [70, 33]);
    const b = tf.tensor(rand(70 * 20, 2), [70, 20]);
    const ids = tf.engine().backend.numDataIds();
    const calls = await nativeCalls("BatchMatMul", async () => {
      const c = tf.matMul(a, b, true, false);
      await c.data();
      c.dispose();
    });
    expect(calls).toBe(0);
    expect(tf.engine().backend.numDataIds()).toBe(ids);
    // dy W^T with a wide W goes the other way round: nothing left over.
    const dy = tf.tensor(rand(8 * 33, 3), [8, 33]);
    const other = await nativeCalls("BatchMatMul", async () => {
      const c = tf.matMul(dy, a, false, true);
      expect(c.shape).toEqual([8, 70]);
      await c.data();
      c.dispose();
    });
    expect(other).toBe(0);
    expect(tf.engine().backend.numDataIds()).toBe(ids + 1);
    const batched = await nativeCalls("BatchMatMul", async () => {
      const x = tf.tensor(rand(2 * 3 * 4, 4), [2, 3, 4]);
      const c = tf.matMul(x, x, true, false);
      await c.data();
      tf.dispose([x, c]);
    });
    expect(batched).toBe(1);
    tf.dispose([a, b, dy]);
  });
});
