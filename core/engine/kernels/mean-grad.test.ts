import "@tensorflow/tfjs-layers"; // registers tfjs's default gradients
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { deviceMeanGradConfig } from "./mean-grad.js";

const CASES: { shape: number[]; axis?: number | number[]; keepDims: boolean }[] = [
  { shape: [4, 5, 6, 3], axis: [0, 1, 2], keepDims: false }, // batch norm's moments
  { shape: [4, 5, 6, 3], axis: [0, 1, 2], keepDims: true },
  { shape: [4, 5, 6, 3], axis: [1, 2], keepDims: false }, // global average pool
  { shape: [4, 5, 6, 3], axis: -1, keepDims: true },
  { shape: [7, 3], axis: 0, keepDims: false },
  { shape: [7, 3], axis: [-1, 0], keepDims: true },
  { shape: [2, 3, 4], keepDims: false }, // all axes
  { shape: [5], axis: 0, keepDims: true },
];

/** d/dx sum(mean(x) * w) for a random w, so every element of dy differs. */
function gradOf(
  x: tf.Tensor,
  axis: number | number[] | undefined,
  keepDims: boolean,
  seed: number,
) {
  return tf.tidy(() => {
    const outShape = tf.mean(x, axis, keepDims).shape;
    const w = tf.randomNormal(outShape, 0, 1, "float32", seed);
    return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, axis, keepDims), w)))(x);
  });
}

describe("device-side Mean gradient", () => {
  let defaultGrad: tf.GradConfig | undefined;
  beforeAll(async () => {
    await tf.setBackend("cpu");
    defaultGrad = tf.getGradient("Mean");
  });
  afterAll(async () => {
    if (defaultGrad) tf.registerGradient(defaultGrad);
    await tf.setBackend("cpu");
  });

  it("starts from tfjs's own gradient (not ours)", () => {
    expect(defaultGrad).toBeDefined();
    expect(defaultGrad).not.toBe(deviceMeanGradConfig);
  });

  for (const [i, c] of [...CASES.entries()].flatMap(([i, c]) =>
    (["cpu", "wasm"] as const).map((b) => [i, { ...c, backend: b }] as const),
  )) {
    it(`equals tfjs's gradient on ${c.backend}: shape [${c.shape}] axis ${JSON.stringify(c.axis)} keepDims ${c.keepDims}`, async () => {
      if (c.backend === "wasm") await selectBackend("wasm");
      else await tf.setBackend("cpu");
      const x = tf.randomNormal(c.shape, 0, 1, "float32", 1 + i);
      tf.registerGradient(defaultGrad as tf.GradConfig);
      const ref = gradOf(x, c.axis, c.keepDims, 50 + i);
      tf.registerGradient(deviceMeanGradConfig);
      const got = gradOf(x, c.axis, c.keepDims, 50 + i);
      expect(got.shape).toEqual(c.shape);
      const [r, g] = await Promise.all([ref.data(), got.data()]);
      for (let j = 0; j < r.length; j++) expect(g[j]).toBeCloseTo(r[j] as number, 6);
      tf.dispose([x, ref, got]);
    });
  }

  for (const backend of ["cpu", "wasm"] as const)
    it(`does not build an x-sized array on the host on ${backend} (tfjs's default does)`, async () => {
      if (backend === "wasm") await selectBackend("wasm");
      else await tf.setBackend("cpu");
      const shape = [8, 6, 6, 4];
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.randomNormal(shape, 0, 1, "float32", 3);
      // Host values become tensors through engine.makeTensor (kernel outputs do not).
      const engine = tf.engine() as unknown as {
        makeTensor: (values: unknown, shape: number[], ...rest: unknown[]) => tf.Tensor;
      };
      const original = engine.makeTensor;
      const hostTensorSizes = (): number[] => {
        const sizes: number[] = [];
        engine.makeTensor = function (this: unknown, values, s, ...rest) {
          sizes.push(s.reduce((a, b) => a * b, 1));
          return original.call(this, values, s, ...rest);
        };
        return sizes;
      };
      try {
        tf.registerGradient(defaultGrad as tf.GradConfig);
        const withDefault = hostTensorSizes();
        tf.dispose(gradOf(x, [0, 1, 2], false, 9));
        tf.registerGradient(deviceMeanGradConfig);
        const withOurs = hostTensorSizes();
        tf.dispose(gradOf(x, [0, 1, 2], false, 9));
        expect(withDefault).toContain(n);
        expect(withOurs.length).toBeGreaterThan(0);
        expect(Math.max(...withOurs)).toBeLessThan(n);
      } finally {
        engine.makeTensor = original;
        x.dispose();
      }
    });
});
