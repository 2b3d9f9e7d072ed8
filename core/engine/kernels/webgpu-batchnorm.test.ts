import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeBackends, selectBackend } from "../backends.js";
import { compute, countWebgpuPrograms, rand, size } from "./testing.js";
import {
  BATCH_NORM_GRAD_STATS,
  CHANNEL_AFFINE2,
  MOMENTS,
  reducePlan,
  webgpuBatchNormGradStatsConfig,
  webgpuChannelAffine2Config,
  webgpuMomentsConfig,
} from "./webgpu-batchnorm.js";

const SHAPES: number[][] = [
  [2, 5, 5, 3],
  [4, 8, 8, 64],
  [8, 16, 16, 128],
  [3, 7],
  [2, 3, 5, 70],
  [32, 32, 32, 16],
];

/** Deterministic N(0, 1) samples (Box-Muller on testing.ts's uniform ones). */
function normal(n: number, seed: number): Float32Array {
  const u = rand(2 * n, seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = ((u[2 * i] as number) + 1) / 2 || 1e-7;
    const u2 = ((u[2 * i + 1] as number) + 1) / 2;
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

const offset = (v: Float32Array, by: number): Float32Array => v.map((x) => x + by);

/** max over i of |got - want| / scale[i] (scale: each value's magnitude). */
function scaledError(got: Float32Array, want: Float32Array, scale: Float32Array): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs((got[i] as number) - (want[i] as number));
    const s = Math.max(scale[i] as number, 1e-30);
    worst = Math.max(worst, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d / s);
  }
  return worst;
}

/** Runs `f` on cpu and reads its outputs (everything disposed). */
const cpuValues = async (f: () => tf.Tensor[]) => (await compute("cpu", f)).values;

const axesAllButLast = (shape: number[]): number[] => shape.slice(0, -1).map((_, i) => i);

async function read(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from((await t.data()) as Float32Array);
}

/** Runs a kernel on webgpu; returns its output's values and shape (disposed). */
async function onWebgpu(
  name: string,
  inputs: Record<string, { values: Float32Array; shape: number[] }>,
): Promise<{ values: Float32Array; shape: number[] }> {
  await selectBackend("webgpu");
  const tensors: tf.NamedTensorMap = {};
  for (const [k, v] of Object.entries(inputs)) tensors[k] = tf.tensor(v.values, v.shape);
  const out = tf.engine().runKernel(name, tensors, {}) as tf.Tensor;
  const result = { values: await read(out), shape: [...out.shape] };
  tf.dispose([out, ...Object.values(tensors)]);
  return result;
}

describe("batch-norm kernels on webgpu", async () => {
  const [probe] = await probeBackends({ only: ["webgpu"] });
  if (!probe?.available) {
    console.warn(`skipping the webgpu batch-norm kernel tests: no adapter (${probe?.reason})`);
  }
  const gpu = it.skipIf(!probe?.available && !process.env.CI);

  beforeAll(() => {
    for (const config of [
      webgpuMomentsConfig,
      webgpuBatchNormGradStatsConfig,
      webgpuChannelAffine2Config,
    ]) {
      if (!tf.getKernel(config.kernelName, "webgpu")) tf.registerKernel(config);
    }
  });

  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("plans a few hundred workgroups for big reductions, one group for small ones", () => {
    const big = reducePlan(128 * 32 * 32, 64);
    expect(big.channelBlock).toBe(64);
    expect(big.channelBlocks * big.groups).toBeGreaterThanOrEqual(256);
    expect(big.channelBlocks * big.groups).toBeLessThanOrEqual(1024);
    const wide = reducePlan(128 * 4 * 4, 512);
    expect(wide.channelBlocks).toBe(8);
    expect(wide.channelBlocks * wide.groups).toBeGreaterThanOrEqual(256);
    const small = reducePlan(50, 3);
    expect(small.groups).toBe(1);
    expect(small.channelBlock).toBe(4);
    for (const p of [big, wide, small]) {
      expect(p.groups).toBeLessThanOrEqual(65535);
      expect(p.groups * p.rowsPerGroup).toBeGreaterThanOrEqual(p.rows);
      expect((p.groups - 1) * p.rowsPerGroup).toBeLessThan(p.rows);
    }
  });

  for (const [i, shape] of SHAPES.entries()) {
    const c = shape[shape.length - 1] as number;
    const n = size(shape);
    const rows = n / c;
    const axes = axesAllButLast(shape);

    for (const shift of [0, 1000]) {
      gpu(
        `${MOMENTS} matches tf.moments on cpu: ${JSON.stringify(shape)}, N(${shift}, 1)`,
        async () => {
          const x = offset(normal(n, 10 + i), shift);
          const [mean, variance, meanAbs] = await cpuValues(() => {
            const xt = tf.tensor(x, shape);
            const m = tf.moments(xt, axes);
            return [m.mean, m.variance, tf.mean(tf.abs(xt), axes)];
          });
          const got = await onWebgpu(MOMENTS, { x: { values: x, shape } });
          expect(got.shape).toEqual([2, c]);
          // Mean: relative to the channel's mean |x|; variance: relative to itself.
          expect(
            scaledError(got.values.subarray(0, c), mean as Float32Array, meanAbs as Float32Array),
          ).toBeLessThan(1e-5);
          expect(
            scaledError(got.values.subarray(c), variance as Float32Array, variance as Float32Array),
          ).toBeLessThan(1e-5);
        },
      );
    }

    gpu(
      `${MOMENTS} keeps the variance of N(1e5, 1) to 1e-6 (float64 reference): ${JSON.stringify(shape)}`,
      async () => {
        // tf.moments in float32 loses ~1e-5 here (its mean is rounded to
        // float32 before x - mean), so the reference is computed in float64.
        const x = offset(normal(n, 80 + i), 1e5);
        const mean = new Float64Array(c);
        const variance = new Float64Array(c);
        for (let j = 0; j < n; j++) mean[j % c] = (mean[j % c] as number) + (x[j] as number) / rows;
        for (let j = 0; j < n; j++) {
          variance[j % c] =
            (variance[j % c] as number) + ((x[j] as number) - (mean[j % c] as number)) ** 2 / rows;
        }
        const got = await onWebgpu(MOMENTS, { x: { values: x, shape } });
        const m32 = Float32Array.from(mean);
        const v32 = Float32Array.from(variance);
        expect(scaledError(got.values.subarray(0, c), m32, m32.map(Math.abs))).toBeLessThan(1e-6);
        expect(scaledError(got.values.subarray(c), v32, v32)).toBeLessThan(1e-6);
      },
    );

    gpu(`${BATCH_NORM_GRAD_STATS} matches tfjs sums on cpu: ${JSON.stringify(shape)}`, async () => {
      const x = offset(normal(n, 20 + i), 3);
      const dy = normal(n, 30 + i);
      const mu = offset(normal(c, 40 + i), 3);
      const [s1, s2, a1, a2] = await cpuValues(() => {
        const xt = tf.tensor(x, shape);
        const dyt = tf.tensor(dy, shape);
        const prod = tf.mul(dyt, tf.sub(xt, tf.tensor1d(mu)));
        return [
          tf.sum(dyt, axes),
          tf.sum(prod, axes),
          tf.sum(tf.abs(dyt), axes),
          tf.sum(tf.abs(prod), axes),
        ];
      });
      const got = await onWebgpu(BATCH_NORM_GRAD_STATS, {
        x: { values: x, shape },
        dy: { values: dy, shape },
        mean: { values: mu, shape: [c] },
      });
      expect(got.shape).toEqual([2, c]);
      // Sums: relative to the sum of the terms' magnitudes.
      expect(
        scaledError(got.values.subarray(0, c), s1 as Float32Array, a1 as Float32Array),
      ).toBeLessThan(1e-5);
      expect(
        scaledError(got.values.subarray(c), s2 as Float32Array, a2 as Float32Array),
      ).toBeLessThan(1e-5);
      expect(rows).toBeGreaterThan(0);
    });

    gpu(
      `${CHANNEL_AFFINE2} matches a * k0 + b * k1 + k2 on cpu: ${JSON.stringify(shape)}`,
      async () => {
        const a = normal(n, 50 + i);
        const b = offset(normal(n, 60 + i), 2);
        const coef = normal(3 * c, 70 + i);
        const [want, magnitude] = await cpuValues(() => {
          const k = tf.tensor2d(coef, [3, c]);
          const [k0, k1, k2] = tf.unstack(k);
          const at = tf.tensor(a, shape);
          const bt = tf.tensor(b, shape);
          const ta = tf.mul(at, k0 as tf.Tensor);
          const tb = tf.mul(bt, k1 as tf.Tensor);
          return [
            tf.add(tf.add(ta, tb), k2 as tf.Tensor),
            tf.add(tf.add(tf.abs(ta), tf.abs(tb)), tf.abs(k2 as tf.Tensor)),
          ];
        });
        const got = await onWebgpu(CHANNEL_AFFINE2, {
          a: { values: a, shape },
          b: { values: b, shape },
          coef: { values: coef, shape: [3, c] },
        });
        expect(got.shape).toEqual(shape);
        expect(
          scaledError(got.values, want as Float32Array, magnitude as Float32Array),
        ).toBeLessThan(1e-5);
      },
    );
  }

  gpu("takes at most two dispatches per call and leaks nothing", async () => {
    const shape = [32, 32, 32, 16];
    const c = 16;
    expect(reducePlan(size(shape) / c, c).groups).toBeGreaterThan(1); // the two-pass path
    await selectBackend("webgpu");
    const x = tf.tensor(normal(size(shape), 1), shape);
    const dy = tf.tensor(normal(size(shape), 2), shape);
    const mean = tf.tensor1d(normal(c, 3));
    const coef = tf.tensor2d(normal(3 * c, 4), [3, c]);
    const backend = tf.backend() as unknown as { numDataIds(): number };
    // Warm-up (compiles the pipelines).
    for (const t of [
      tf.engine().runKernel(MOMENTS, { x }, {}) as tf.Tensor,
      tf.engine().runKernel(BATCH_NORM_GRAD_STATS, { x, dy, mean }, {}) as tf.Tensor,
      tf.engine().runKernel(CHANNEL_AFFINE2, { a: dy, b: x, coef }, {}) as tf.Tensor,
    ]) {
      await t.data();
      t.dispose();
    }
    const tensorsBefore = tf.memory().numTensors;
    const idsBefore = backend.numDataIds();
    const calls: [string, tf.NamedTensorMap][] = [
      [MOMENTS, { x }],
      [BATCH_NORM_GRAD_STATS, { x, dy, mean }],
      [CHANNEL_AFFINE2, { a: dy, b: x, coef }],
    ];
    for (const [name, inputs] of calls) {
      let out: tf.Tensor | undefined;
      const dispatches = await countWebgpuPrograms(async () => {
        out = tf.engine().runKernel(name, inputs, {}) as tf.Tensor;
      });
      expect(dispatches, name).toBeLessThanOrEqual(name === CHANNEL_AFFINE2 ? 1 : 2);
      await out?.data();
      out?.dispose();
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(backend.numDataIds()).toBe(idsBefore);
    tf.dispose([x, dy, mean, coef]);
  });
});
