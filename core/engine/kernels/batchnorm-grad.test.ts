import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { BATCH_NORM_GRAD_STATS } from "./batchnorm-grad.js";
import { compute, cpuAndWasm, kernelsRun, maxRelError, rand, relError, size } from "./testing.js";

const C = 5;
const shape = [4, 6, 3, C];
const eps = 1e-3;
const xv = rand(size(shape), 1).map((v) => 2 * v + 0.5);
const wv = rand(size(shape), 2); // d loss / d y
const mv = rand(C, 3).map((v) => v * 0.5);
const vv = rand(C, 4).map((v) => v * v + 0.2);
const ov = rand(C, 5);
const sv = rand(C, 6).map((v) => v + 1.5);

/**
 * Gradients of sum(batchNorm(x, mean, variance, offset, scale) * w) w.r.t.
 * all five, on the active backend. (tfjs 4.22's tape cannot differentiate
 * batchNorm without an offset or a scale at all, with or without ours.)
 */
function bnGrads(): tf.Tensor[] {
  const w = tf.tensor(wv, shape);
  const x = tf.tensor(xv, shape);
  const m = tf.tensor1d(mv);
  const v = tf.tensor1d(vv);
  const s = tf.tensor1d(sv);
  const o = tf.tensor1d(ov);
  return tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) =>
    tf.sum(tf.mul(tf.batchNorm(a, b, c, d, e, eps), w)),
  )([x, m, v, o, s]);
}

/** The same gradients in float64, from the formula. */
function reference(): Float64Array[] {
  const dx = new Float64Array(xv.length);
  const dm = new Float64Array(C);
  const dv = new Float64Array(C);
  const ds = new Float64Array(C);
  const doff = new Float64Array(C);
  for (let i = 0; i < xv.length; i++) {
    const c = i % C;
    const s = sv[c] as number;
    const r = 1 / Math.sqrt((vv[c] as number) + eps);
    const w = wv[i] as number;
    const xm = (xv[i] as number) - (mv[c] as number);
    dx[i] = w * s * r;
    dm[c] = (dm[c] as number) - w * s * r;
    dv[c] = (dv[c] as number) - 0.5 * w * s * xm * r * r * r;
    ds[c] = (ds[c] as number) + w * xm * r;
    doff[c] = (doff[c] as number) + w;
  }
  return [dx, dm, dv, doff, ds];
}

describe("FusedBatchNorm gradient", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("matches the formula on cpu and on wasm", async () => {
    const { cpu, wasm } = await cpuAndWasm(bnGrads);
    const ref = reference();
    expect(wasm.values).toHaveLength(ref.length);
    for (const [i, r] of ref.entries()) {
      expect(relError(cpu.values[i] as Float32Array, r)).toBeLessThan(1e-5);
      expect(relError(wasm.values[i] as Float32Array, r)).toBeLessThan(1e-5);
    }
    expect(maxRelError(wasm, cpu)).toBeLessThan(1e-5);
  });

  it("matches cpu for batch norm in training mode (moments of x, then batchNorm)", async () => {
    const f = () => {
      const w = tf.tensor(wv, shape);
      const gamma = tf.tensor1d(sv);
      const beta = tf.tensor1d(ov);
      return tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return tf.sum(tf.mul(tf.batchNorm(x, mean, variance, b, g, eps), w));
      })([tf.tensor(xv, shape), gamma, beta]);
    };
    const { cpu, wasm } = await cpuAndWasm(f);
    expect(maxRelError(wasm, cpu)).toBeLessThan(1e-4);
  });

  it("on wasm needs no Tile and one pass for the sums; on cpu runs tfjs's own computation", async () => {
    await selectBackend("wasm");
    const onWasm = await kernelsRun(() => bnGrads());
    expect(onWasm).not.toContain("Tile");
    expect(onWasm.filter((k) => k === BATCH_NORM_GRAD_STATS)).toHaveLength(1);
    await selectBackend("cpu");
    const onCpu = await kernelsRun(() => bnGrads());
    expect(onCpu).toContain("Tile");
    expect(onCpu).not.toContain(BATCH_NORM_GRAD_STATS);
  });

  it("leaks no tensors on wasm", async () => {
    await selectBackend("wasm");
    const before = tf.memory().numTensors;
    const ids = tf.engine().backend.numDataIds();
    await compute("wasm", () => bnGrads());
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(ids);
  });
});
