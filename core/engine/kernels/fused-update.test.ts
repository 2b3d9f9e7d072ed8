import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { createModel } from "../../models/index.js";
import { probeBackends, selectBackend } from "../backends.js";
import { Optimizer, type OptimizerSpec } from "../optimizers.js";
import { trainStep } from "../step.js";
import {
  AXPBY,
  axpby,
  fusedUpdateAvailable,
  fusedUpdateKernels,
  SUM_SQUARES_ADD,
  sumSquaresAdd,
  sumSquaresPlan,
} from "./fused-update.js";
import { countWebgpuPrograms, kernelsRun, rand, relError, size } from "./testing.js";

type Backend = "cpu" | "wasm" | "webgpu";
const BACKENDS: Backend[] = ["cpu", "wasm", "webgpu"];

const SHAPES: number[][] = [[], [7], [3, 5], [4, 8, 8, 16], [5, 7, 3]];
/** Big ones for the reduction: two passes on webgpu, with vec4 loads and without. */
const BIG_SHAPES: number[][] = [[600, 512], [300_003]];

const A = 0.7;
const B = -1.3;
const ACC = 2.5;

interface Result {
  values: Float32Array;
  shape: number[];
}

/** Runs f on a backend, reads its output; everything f creates is disposed. */
async function on(backend: Backend, f: () => tf.Tensor): Promise<Result> {
  await selectBackend(backend);
  const out = tf.tidy(f);
  const values = Float32Array.from((await out.data()) as Float32Array);
  const shape = [...out.shape];
  out.dispose();
  return { values, shape };
}

/**
 * Selects a backend unless it is active already (selectBackend registers the
 * overrides again, which would undo withoutKernels).
 */
async function use(backend: Backend): Promise<void> {
  if (tf.getBackend() !== backend) await selectBackend(backend);
}

/** Runs f on `backend` with its fused kernels unregistered: the wrappers' fallback (tfjs's own ops). */
async function withoutKernels<T>(f: () => Promise<T>, backend: Backend = "cpu"): Promise<T> {
  await selectBackend(backend);
  const configs = fusedUpdateKernels.filter((k) => k.backendName === backend);
  for (const k of configs) tf.unregisterKernel(k.kernelName, backend);
  try {
    expect(fusedUpdateAvailable(AXPBY) || fusedUpdateAvailable(SUM_SQUARES_ADD)).toBe(false);
    return await f();
  } finally {
    for (const k of configs) tf.registerKernel(k);
  }
}

/** sum of x^2 in float64, plus acc. */
function sumSquares64(acc: number, x: Float32Array): number {
  let s = acc;
  for (const v of x) s += v * v;
  return s;
}

describe("fused update kernels", async () => {
  const [probe] = await probeBackends({ only: ["webgpu"] });
  if (!probe?.available) {
    console.warn(`skipping the webgpu fused-update tests: no adapter (${probe?.reason})`);
  }
  const testOn = (backend: Backend) => (backend === "webgpu" ? it.skipIf(!probe?.available) : it);

  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("plans one pass for small inputs, a few hundred workgroups for big ones", () => {
    expect(sumSquaresPlan(0)).toEqual({ component: 1, groups: 1 });
    expect(sumSquaresPlan(105)).toEqual({ component: 1, groups: 1 });
    expect(sumSquaresPlan(4096).component).toBe(4);
    expect(sumSquaresPlan(3 * 3 * 512 * 512).groups).toBeGreaterThanOrEqual(256);
    expect(sumSquaresPlan(3 * 3 * 512 * 512).groups).toBeLessThanOrEqual(1024);
  });

  for (const backend of BACKENDS) {
    for (const [i, shape] of [...SHAPES, ...BIG_SHAPES].entries()) {
      const n = size(shape);
      const x = rand(n, 100 + i);
      const y = rand(n, 200 + i);

      testOn(backend)(
        `${AXPBY} on ${backend} matches tf ops on cpu: ${JSON.stringify(shape)}`,
        async () => {
          const want = await on("cpu", () =>
            tf.add(tf.mul(tf.tensor(x, shape), A), tf.mul(tf.tensor(y, shape), B)),
          );
          const got = await on(backend, () => {
            expect(fusedUpdateAvailable(AXPBY)).toBe(true);
            return axpby(tf.tensor(x, shape), tf.tensor(y, shape), A, B);
          });
          expect(got.shape).toEqual(shape);
          expect(relError(got.values, want.values)).toBeLessThan(1e-6);
        },
      );

      testOn(backend)(
        `${SUM_SQUARES_ADD} on ${backend} matches tf ops on cpu: ${JSON.stringify(shape)}`,
        async () => {
          const want = await on("cpu", () =>
            tf.add(tf.scalar(ACC), tf.sum(tf.square(tf.tensor(x, shape)))),
          );
          const got = await on(backend, () => {
            expect(fusedUpdateAvailable(SUM_SQUARES_ADD)).toBe(true);
            return sumSquaresAdd(tf.scalar(ACC), tf.tensor(x, shape));
          });
          expect(got.shape).toEqual([]);
          // tfjs's cpu Sum adds in float32: looser against it than against float64.
          expect(relError(got.values, want.values)).toBeLessThan(1e-4);
          const exact = sumSquares64(ACC, x);
          expect(Math.abs((got.values[0] as number) - exact) / exact).toBeLessThan(1e-5);
        },
      );
    }

    testOn(backend)(`leaks no tensor and no backend data on ${backend}`, async () => {
      await selectBackend(backend);
      const shape = [600, 512]; // the two-pass reduction on webgpu
      const x = tf.tensor(rand(size(shape), 1), shape);
      const y = tf.tensor(rand(size(shape), 2), shape);
      const acc = tf.scalar(ACC);
      const empty = tf.tensor([], [0]);
      const runAll = async () => {
        const outs = [
          axpby(x, y, A, B),
          sumSquaresAdd(acc, x),
          sumSquaresAdd(acc, empty),
          axpby(acc, acc, A, B),
        ];
        await Promise.all(outs.map((t) => t.data()));
        return outs;
      };
      tf.dispose(await runAll()); // warm-up: pipelines, buffer pools
      const backendData = tf.backend() as unknown as { numDataIds(): number };
      const tensors = tf.memory().numTensors;
      const ids = backendData.numDataIds();
      const outs = await runAll();
      expect((await outs[2]?.data())?.[0]).toBeCloseTo(ACC, 6);
      tf.dispose(outs);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(backendData.numDataIds()).toBe(ids);
      tf.dispose([x, y, acc, empty]);
    });
  }

  testOn("webgpu")(
    "webgpu: one dispatch per axpby, at most two per reduction; a and b are not in the shader key",
    async () => {
      await selectBackend("webgpu");
      const backend = tf.backend() as unknown as { pipelineCache: Record<string, unknown> };
      const shape = [3, 3, 512, 64];
      const x = tf.tensor(rand(size(shape), 3), shape);
      const y = tf.tensor(rand(size(shape), 4), shape);
      const acc = tf.scalar(ACC);
      tf.dispose(await Promise.all([axpby(x, y, 0.1, -0.2), sumSquaresAdd(acc, x)]));
      const pipelines = Object.keys(backend.pipelineCache).length;
      for (const [a, b] of [
        [0.9, 0.1],
        [1, -0.05],
      ] as const) {
        let out: tf.Tensor | undefined;
        expect(
          await countWebgpuPrograms(async () => {
            out = axpby(x, y, a, b);
          }),
        ).toBe(1);
        const got = (await out?.data()) as Float32Array;
        const [xs, ys] = [(await x.data()) as Float32Array, (await y.data()) as Float32Array];
        const want = xs.map((v, i) => Math.fround(a) * v + Math.fround(b) * (ys[i] as number));
        expect(relError(got, want)).toBeLessThan(1e-6);
        out?.dispose();
        let norm: tf.Tensor | undefined;
        expect(
          await countWebgpuPrograms(async () => {
            norm = sumSquaresAdd(acc, x);
          }),
        ).toBe(2);
        norm?.dispose();
      }
      expect(Object.keys(backend.pipelineCache).length).toBe(pipelines);
      tf.dispose([x, y, acc]);
    },
  );

  const OPTIMIZERS: [string, Partial<OptimizerSpec> & { kind: OptimizerSpec["kind"] }][] = [
    ["sgd", { kind: "sgd" }],
    ["sgd + weight decay", { kind: "sgd", weightDecay: 0.05 }],
    ["momentum", { kind: "momentum", momentum: 0.9 }],
    ["nesterov + weight decay", { kind: "nesterov", momentum: 0.8, weightDecay: 0.01 }],
    ["adam", { kind: "adam" }],
    ["adamw", { kind: "adamw", weightDecay: 0.1 }],
  ];
  const LRS = [0.1, 0.05, 0.2, 0.01];
  const P_SHAPES = [[3, 5], [7], []];

  /** Parameters after a few steps on g = c * p + b (each variable its own c and b). */
  async function trajectory(
    backend: Backend,
    spec: Partial<OptimizerSpec> & { kind: OptimizerSpec["kind"] },
  ): Promise<Float32Array[]> {
    await use(backend);
    const ps = P_SHAPES.map((s, i) => tf.variable(tf.tensor(rand(size(s), 10 + i), s)));
    const cs = P_SHAPES.map((s, i) =>
      tf.tensor(
        rand(size(s), 20 + i).map((v) => 1 + v),
        s,
      ),
    );
    const bs = P_SHAPES.map((s, i) => tf.tensor(rand(size(s), 30 + i), s));
    const opt = new Optimizer(spec, ps);
    for (const lr of LRS) {
      const gs = ps.map((p, i) =>
        tf.tidy(() => tf.add(tf.mul(cs[i] as tf.Tensor, p), bs[i] as tf.Tensor)),
      );
      opt.apply(gs, lr);
      tf.dispose(gs);
    }
    const out = await Promise.all(
      ps.map(async (p) => Float32Array.from((await p.data()) as Float32Array)),
    );
    opt.dispose();
    tf.dispose([...ps, ...cs, ...bs]);
    return out;
  }

  for (const [name, spec] of OPTIMIZERS) {
    for (const backend of BACKENDS) {
      testOn(backend)(`${name} on ${backend} follows the unfused trajectory`, async () => {
        const want = await withoutKernels(() => trajectory("cpu", spec));
        const got = await trajectory(backend, spec);
        for (const [i, w] of want.entries()) {
          expect(relError(got[i] as Float32Array, w)).toBeLessThan(1e-5);
        }
      });
    }
  }

  it("runs one kernel per sgd update and two per momentum update", async () => {
    const names = async (spec: Partial<OptimizerSpec> & { kind: OptimizerSpec["kind"] }) => {
      const p = tf.variable(tf.tensor(rand(15, 1), [3, 5]));
      const opt = new Optimizer(spec, [p]);
      const g = tf.tensor(rand(15, 2), [3, 5]);
      const run = await kernelsRun(() => {
        opt.apply([g], 0.1);
        return tf.scalar(0);
      });
      opt.dispose();
      tf.dispose([p, g]);
      return run;
    };
    await selectBackend("cpu");
    expect(await names({ kind: "sgd" })).toEqual([AXPBY]);
    expect(await names({ kind: "momentum" })).toEqual([AXPBY, AXPBY]);
    expect(await names({ kind: "nesterov", weightDecay: 0.1 })).toEqual([
      AXPBY,
      AXPBY,
      AXPBY,
      AXPBY,
    ]);
    const unfused = await withoutKernels(() => names({ kind: "sgd" }));
    expect(unfused).toEqual(["Multiply", "Add"]); // p + (-lr) * g: the same as p - lr * g
  });

  /** Kernel names of one cnn trainStep, and its results (fresh model: same weights each call). */
  async function cnnStep(backend: Backend) {
    await use(backend);
    const inputShape = [8, 8, 1];
    const model = createModel("cnn", { inputShape, seed: 5 });
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = new Optimizer({ kind: "momentum" }, variables);
    const m = { model, variables, optimizer, numClasses: 10 };
    const x = tf.tensor(rand(4 * 8 * 8, 7), [4, ...inputShape]) as tf.Tensor4D;
    const labels = Int32Array.from([0, 3, 5, 9]);
    let norm: tf.Tensor | undefined;
    const kernels = await kernelsRun(() => {
      const r = trainStep(m, x, labels, 0.05, false);
      norm = tf.keep(r.gradNormSq);
      return [r.loss, r.correct];
    });
    const gradNormSq = ((await norm?.data()) as Float32Array)[0] as number;
    norm?.dispose();
    const weights = await Promise.all(
      model.weights.map(async (w) => Float32Array.from((await w.read().data()) as Float32Array)),
    );
    optimizer.dispose();
    model.dispose();
    x.dispose();
    return { kernels, gradNormSq, weights, variables: variables.length };
  }

  for (const backend of ["cpu", "webgpu"] as const) {
    testOn(backend)(
      `trainStep uses the fused kernels and runs fewer kernels (cnn on ${backend})`,
      async () => {
        const before = await withoutKernels(() => cnnStep(backend), backend);
        const after = await cnnStep(backend);
        const count = (k: string[], name: string) => k.filter((n) => n === name).length;
        // One norm kernel per gradient; two updates per variable (momentum), and
        // the two batch-norm layers' moving means and variances.
        expect(count(after.kernels, SUM_SQUARES_ADD)).toBe(after.variables);
        expect(count(after.kernels, AXPBY)).toBe(2 * after.variables + 4);
        expect(count(before.kernels, AXPBY) + count(before.kernels, SUM_SQUARES_ADD)).toBe(0);
        expect(after.kernels.length).toBeLessThan(before.kernels.length - 2 * after.variables);
        // Same step: the norm, the updated weights and the moving averages agree.
        expect(Math.abs(after.gradNormSq / before.gradNormSq - 1)).toBeLessThan(1e-5);
        expect(after.weights.length).toBe(before.weights.length);
        for (const [i, w] of before.weights.entries()) {
          expect(relError(after.weights[i] as Float32Array, w)).toBeLessThan(1e-5);
        }
      },
    );
  }
});
