import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";

describe("wasm Identity and same-dtype Cast share data", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("clone shares the buffer, and each tensor lives on its own", async () => {
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const ids = tf.engine().backend.numDataIds();
    const y = tf.clone(x);
    const z = tf.cast(x, "float32");
    expect(tf.engine().backend.numDataIds()).toBe(ids); // no new buffers
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4]);
    y.dispose();
    expect(Array.from(await z.data())).toEqual([1, 2, 3, 4]);
    expect(z.shape).toEqual([2, 2]);
    z.dispose();
    expect(tf.engine().backend.numDataIds()).toBe(ids - 1);
  });

  it("results built from a clone do not change the original", async () => {
    const x = tf.tensor([1, 2, 3]);
    const y = tf.clone(x);
    const v = tf.variable(y);
    v.assign(tf.tensor([7, 8, 9]));
    expect(Array.from(await x.data())).toEqual([1, 2, 3]);
    expect(Array.from(await y.data())).toEqual([1, 2, 3]);
    tf.dispose([x, y, v]);
  });

  it("casts that change the dtype still convert", async () => {
    const x = tf.tensor([1.7, -2.2, 3], [3], "float32");
    expect(Array.from(await tf.cast(x, "int32").data())).toEqual([1, -2, 3]);
    const i = tf.tensor([1, 2], [2], "int32");
    const f = tf.cast(i, "float32");
    expect(f.dtype).toBe("float32");
    expect(Array.from(await f.data())).toEqual([1, 2]);
    tf.dispose([x, i, f]);
  });

  it("clones int32 and bool tensors too", async () => {
    const i = tf.tensor([5, 6], [2], "int32");
    const b = tf.tensor([1, 0], [2], "bool");
    const [ci, cb] = [tf.clone(i), tf.clone(b)];
    tf.dispose([i, b]);
    expect(Array.from(await ci.data())).toEqual([5, 6]);
    expect(Array.from(await cb.data())).toEqual([1, 0]);
    expect(cb.dtype).toBe("bool");
    tf.dispose([ci, cb]);
  });
});
