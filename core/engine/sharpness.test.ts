// Worst-case sharpness (sharpness.ts): closed forms on quadratics, the ReLU
// rescaling invariance of the adaptive variant, progress and restoring the weights.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { datasetBatches } from "../data/batches.js";
import { loadDataset } from "../data/registry.js";
import { Rng } from "../data/rng.js";
import type { Dataset } from "../data/types.js";
import { createModel } from "../models/index.js";
import {
  ascentCheckpoints,
  measureSharpness,
  modelSharpness,
  plannedPasses,
  type SharpnessBatch,
  SharpnessSettingsSchema,
  sharpnessBatches,
  sharpnessSubset,
  worstCaseOnBatch,
} from "./sharpness.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
  await tf.ready();
});

/** A deterministic pseudo-random sequence in [-1, 1). */
function seq(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * max over |d_i| <= r_i of g d + a d^2 / 2 per coordinate: at a corner when
 * a >= 0, else at -g/a when inside.
 */
function boxMax(g: number, a: number, r: number): number {
  if (a >= 0) return Math.abs(g) * r + 0.5 * a * r * r;
  const d = -g / a;
  if (Math.abs(d) <= r) return (g * g) / (2 * -a);
  return Math.abs(g) * r + 0.5 * a * r * r;
}

describe("ascent checkpoints", () => {
  it("are auto-PGD's: 22% then shrinking intervals down to 6% (float rounding as in Python)", () => {
    // 0.57 + 0.13 = 0.7000000000000001, so ceil(0.70 * 20) is 15, as the paper's code computes it.
    expect(ascentCheckpoints(20)).toEqual([5, 9, 12, 15, 16, 18, 19, 20]);
    expect(ascentCheckpoints(100)).toEqual([22, 41, 58, 70, 80, 87, 93, 99, 105]);
    expect(ascentCheckpoints(1)).toEqual([1]);
  });
});

describe("worst case on known quadratics", () => {
  it("a linear layer with a squared loss (separable, convex): the box maximum at its corner, within 1%", async () => {
    // logits = x W + b, loss = mean_n 0.5 |x_n W + b - y_n|^2; x_n = c_n e_n, so the loss
    // is separable in W's entries, with curvature c_n^2 / N on row n (and 1 on b, summed over n / N).
    const inDim = 16;
    const outDim = 3;
    const N = inDim;
    const W = tf.variable(tf.tensor2d(seq(inDim * outDim, 1), [inDim, outDim]), true, "W");
    const c = Array.from({ length: N }, (_, n) => 0.5 + (n % 5) * 0.4);
    const xs = tf.tensor2d(
      Array.from({ length: N }, (_, n) =>
        Array.from({ length: inDim }, (_, i) => (i === n ? (c[n] as number) : 0)),
      ),
    );
    const ys = tf.tensor2d(seq(N * outDim, 7), [N, outDim]);
    const loss = () =>
      tf.tidy(
        () => tf.div(tf.mul(0.5, tf.sum(tf.square(tf.sub(tf.matMul(xs, W), ys)))), N) as tf.Scalar,
      );
    const rho = 0.05;
    const w = W.arraySync();
    const y = ys.arraySync();
    let expected = 0;
    for (let n = 0; n < N; n++)
      for (let o = 0; o < outDim; o++) {
        const cn = c[n] as number;
        const wno = (w[n] as number[])[o] as number;
        const a = (cn * cn) / N;
        const g = (cn * (cn * wno - ((y[n] as number[])[o] as number))) / N;
        expected += boxMax(g, a, rho * Math.abs(wno));
      }
    const w0 = [tf.clone(W)];
    const r = await worstCaseOnBatch([W], w0, loss, {
      norm: "linf",
      adaptive: true,
      rho,
      iterations: 20,
    });
    expect(r.worst - r.initial).toBeGreaterThan(0);
    expect(Math.abs(r.worst - r.initial - expected) / expected).toBeLessThan(0.01);
    // The variable holds w again.
    expect(tf.max(tf.abs(tf.sub(W, w0[0] as tf.Tensor))).arraySync()).toBe(0);
    tf.dispose([W, xs, ys, ...w0]);
  });

  it("negative curvature (interior maxima) and several batches: the mean of the box maxima within 1%", async () => {
    // f_B(v) = sum_i a_Bi v_i^2 / 2 + b_Bi v_i, a mix of convex coordinates (corner maxima)
    // and concave ones whose maximum lies inside the box.
    const n = 40;
    const v = tf.variable(tf.tensor1d(seq(n, 3).map((t) => t + Math.sign(t) * 0.5)), true, "v");
    const wv = v.arraySync();
    const rho = 0.1;
    const batches: { a: Float32Array; b: Float32Array }[] = [];
    for (const seed of [11, 12, 13]) {
      const a = seq(n, seed).map((t, i) => (i % 4 === 0 ? -4 - 4 * Math.abs(t) : 2 * t + 1));
      // Concave coordinates: b such that the interior maximiser -g/a sits at 40% of the box.
      const b = seq(n, seed + 100).map((t, i) => {
        const wi = wv[i] as number;
        const ai = a[i] as number;
        if (i % 4 === 0) return -ai * 0.4 * rho * Math.abs(wi) * Math.sign(t) - ai * wi;
        return t;
      });
      batches.push({ a, b });
    }
    let expected = 0;
    for (const { a, b } of batches)
      for (let i = 0; i < n; i++) {
        const wi = wv[i] as number;
        const ai = a[i] as number;
        expected += boxMax(ai * wi + (b[i] as number), ai, rho * Math.abs(wi));
      }
    expected /= batches.length;
    const tensors = batches.map(({ a, b }) => ({
      x: tf.tensor1d(a),
      y: tf.tensor1d(b),
      size: 1,
    }));
    const values = await measureSharpness(
      [v],
      tensors,
      (batch: SharpnessBatch) =>
        tf.add(
          tf.mul(0.5, tf.sum(tf.mul(batch.x, tf.square(v)))),
          tf.sum(tf.mul(batch.y, v)),
        ) as tf.Scalar,
      SharpnessSettingsSchema.parse({ rho, variants: ["adaptive", "one-step"] }),
    );
    const adaptive = values?.[0]?.value as number;
    const oneStep = values?.[1]?.value as number;
    expect(Math.abs(adaptive - expected) / expected).toBeLessThan(0.01);
    // One step lands on the corner: a lower bound, below the full ascent here.
    expect(oneStep).toBeLessThan(adaptive);
    tf.dispose([v, ...tensors.flatMap((t) => [t.x, t.y])]);
  });

  it("the plain L2 ball on an isotropic quadratic: rho |g| + a rho^2 / 2", async () => {
    const v = tf.variable(tf.tensor1d(seq(30, 5)), true, "v2");
    const b = tf.tensor1d(seq(30, 6));
    const a = 3;
    const loss = () =>
      tf.tidy(
        () => tf.add(tf.mul(0.5 * a, tf.sum(tf.square(v))), tf.sum(tf.mul(b, v))) as tf.Scalar,
      );
    const g = tf.add(tf.mul(a, v), b);
    const gNorm = tf.norm(g).arraySync() as number;
    const rho = 0.2;
    const expected = rho * gNorm + 0.5 * a * rho * rho;
    const r = await worstCaseOnBatch([v], [tf.clone(v)], loss, {
      norm: "l2",
      adaptive: false,
      rho,
      iterations: 20,
    });
    expect(Math.abs(r.worst - r.initial - expected) / expected).toBeLessThan(0.01);
    tf.dispose([v, b, g]);
  });
});

describe("sharpness of an mlp", () => {
  let dataset: Dataset;
  beforeAll(async () => {
    dataset = await loadDataset("default");
  });

  const settings = SharpnessSettingsSchema.parse({ examples: 64, batchSize: 32, iterations: 6 });

  /** Scales fc1 (kernel and bias) by a and fc2's kernel by 1/a: the same function (ReLU is 1-homogeneous). */
  function rescale(model: tfl.LayersModel, a: number): void {
    const byName = new Map(model.trainableWeights.map((w) => [w.originalName, w]));
    const scaleBy = (name: string, f: number) => {
      const w = byName.get(name);
      if (!w) throw new Error(`no weight ${name}: ${[...byName.keys()].join(", ")}`);
      w.write(tf.mul(w.read(), f));
    };
    scaleBy("fc1/kernel", a);
    scaleBy("fc1/bias", a);
    scaleBy("fc2/kernel", 1 / a);
  }

  it("the evaluation subset: the first examples of the seed's shuffle, unaugmented, the last batch cut", async () => {
    const s = { examples: 70, batchSize: 32, seed: 4 };
    const { indices, batchSize } = sharpnessSubset(dataset.train.count, s);
    expect(batchSize).toBe(32);
    expect(indices.length).toBe(70);
    // The same images as an epoch of datasetBatches drawn from the "sharpness" fork (what the
    // torch engine sends to Python as indices, and the TF.js engines turn into tensors here).
    const reference = [
      ...datasetBatches(dataset, "train", {
        batchSize: 32,
        rng: Rng.from(4).fork("sharpness"),
        augment: false,
      }),
    ].flatMap((b) => [...b.indices]);
    expect([...indices]).toEqual(reference.slice(0, 70));
    const batches = sharpnessBatches(dataset, s);
    try {
      expect(batches.map((b) => b.size)).toEqual([32, 32, 6]);
      const first = reference[0] as number;
      const [b0] = datasetBatches(dataset, "train", {
        batchSize: 1,
        shuffle: false,
        startBatch: first,
      });
      expect(Array.from((await batches[0]?.x.data()) ?? []).slice(0, 784)).toEqual(
        Array.from(b0?.images ?? []),
      );
      expect((await tf.argMax(batches[0]?.y as tf.Tensor, 1).data())[0]).toBe(
        dataset.train.labels[first],
      );
    } finally {
      for (const b of batches) tf.dispose([b.x, b.y]);
    }
    // A subset larger than the split is the whole split.
    expect(sharpnessSubset(50, { examples: 1024, batchSize: 128, seed: 0 })).toMatchObject({
      batchSize: 50,
    });
  });

  it("ReLU rescaling leaves adaptive sharpness unchanged (2%) and changes the plain L2 one", async () => {
    const model = createModel("mlp", { inputShape: [...dataset.shape], numClasses: 10, seed: 1 });
    const before = (await modelSharpness(model, dataset, settings)) ?? [];
    rescale(model, 4);
    const after = (await modelSharpness(model, dataset, settings)) ?? [];
    const get = (vs: typeof before, v: string) => vs.find((x) => x.variant === v)?.value as number;
    // The function is unchanged: so is the loss.
    expect(after[0]?.loss).toBeCloseTo(before[0]?.loss as number, 4);
    for (const v of ["adaptive", "one-step"]) {
      expect(get(before, v)).toBeGreaterThan(0);
      expect(Math.abs(get(after, v) - get(before, v)) / get(before, v)).toBeLessThan(0.02);
    }
    const l2Change = Math.abs(get(after, "l2") - get(before, "l2")) / get(before, "l2");
    expect(l2Change).toBeGreaterThan(0.1);
    model.dispose();
  });

  it("reports progress, records its settings, restores the weights and leaks no tensors", async () => {
    const model = createModel("mlp", { inputShape: [...dataset.shape], numClasses: 10, seed: 2 });
    const w0 = await Promise.all(model.trainableWeights.map((w) => w.read().data()));
    const tensors = tf.memory().numTensors;
    const progress: [number, number][] = [];
    const values = await modelSharpness(model, dataset, settings, {
      onProgress: (d, t) => progress.push([d, t]),
    });
    expect(tf.memory().numTensors).toBe(tensors);
    const total = plannedPasses(settings.variants, settings.iterations, 2);
    expect(progress.at(-1)).toEqual([total, total]);
    expect(values?.map((v) => [v.key, v.norm, v.adaptive, v.rho, v.iterations])).toEqual([
      ["sharpness", "linf", true, 0.0002, 6],
      ["sharpnessL2", "l2", false, 0.05, 6],
      ["sharpnessOneStep", "linf", true, 0.0002, 1],
    ]);
    for (const v of values ?? []) {
      expect(v.examples).toBe(64);
      expect(v.batchSize).toBe(32);
      expect(v.seed).toBe(0);
      expect(Number.isFinite(v.value)).toBe(true);
    }
    const w1 = await Promise.all(model.trainableWeights.map((w) => w.read().data()));
    expect(w1).toEqual(w0);
    // shouldStop abandons the measurement.
    expect(await modelSharpness(model, dataset, settings, { shouldStop: () => true })).toBeNull();
    expect(tf.memory().numTensors).toBe(tensors);
    model.dispose();
  });
});
