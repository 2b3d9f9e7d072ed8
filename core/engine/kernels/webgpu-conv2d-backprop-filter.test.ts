import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { probeBackends, selectBackend } from "../backends.js";
import { rand, relError, size } from "./testing.js";
import {
  setWebgpuPatchChunkLimit,
  webgpuConv2DBackpropFilter,
} from "./webgpu-conv2d-backprop-filter.js";

type Pad =
  | "same"
  | "valid"
  | number
  | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { name: "3x3 stride 1 same", x: [2, 8, 8, 3], filter: [3, 3, 3, 4], strides: 1, pad: "same" },
  { name: "3x3 stride 2 same", x: [2, 9, 8, 5], filter: [3, 3, 5, 6], strides: 2, pad: "same" },
  { name: "1x1 stride 2 valid", x: [3, 8, 7, 4], filter: [1, 1, 4, 8], strides: 2, pad: "valid" },
  { name: "3x3 stride 2 valid", x: [2, 8, 8, 3], filter: [3, 3, 3, 2], strides: 2, pad: "valid" },
  {
    name: "explicit pads, 2x3 filter, strides [1,2]",
    x: [2, 7, 9, 3],
    filter: [2, 3, 3, 5],
    strides: [1, 2],
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { name: "numeric pad 1, 5x5", x: [1, 6, 6, 2], filter: [5, 5, 2, 3], strides: 1, pad: 1 },
  {
    name: "7x7 stride 2 same, 1 channel",
    x: [2, 12, 12, 1],
    filter: [7, 7, 1, 4],
    strides: 2,
    pad: "same",
  },
];

/** tfjs-core does not export conv2DBackpropFilter; run the kernel directly. */
function backpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, c: Case): tf.Tensor4D {
  return tf.engine().runKernel(
    "Conv2DBackpropFilter",
    { x, dy } as unknown as tf.NamedTensorMap,
    {
      strides: c.strides,
      pad: c.pad,
      dataFormat: "NHWC",
      filterShape: c.filter,
    } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor4D;
}

function dyShape(c: Case): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
  return [c.x[0], info.outHeight, info.outWidth, c.filter[3]];
}

async function dwOn(backend: string, c: Case, seed: number): Promise<Float32Array> {
  await selectBackend(backend);
  const x = tf.tensor4d(rand(size(c.x), seed), c.x);
  const dy = tf.tensor4d(rand(size(dyShape(c)), seed + 1), dyShape(c));
  const dw = backpropFilter(x, dy, c);
  expect(dw.shape).toEqual(c.filter);
  const values = Float32Array.from((await dw.data()) as Float32Array);
  tf.dispose([x, dy, dw]);
  return values;
}

describe("Conv2DBackpropFilter on webgpu (im2col + matmul)", async () => {
  const [probe] = await probeBackends({ only: ["webgpu"] });
  if (!probe?.available) {
    console.warn(`skipping the webgpu Conv2DBackpropFilter tests: no adapter (${probe?.reason})`);
  }
  const gpu = it.skipIf(!probe?.available);

  afterAll(async () => {
    await selectBackend("cpu");
  });

  gpu("replaces webgpu's own kernel", async () => {
    await selectBackend("webgpu");
    expect(tf.getKernel("Conv2DBackpropFilter", "webgpu")?.kernelFunc).toBe(
      webgpuConv2DBackpropFilter,
    );
  });

  for (const [i, c] of CASES.entries()) {
    gpu(`matches the cpu backend: ${c.name}`, async () => {
      const want = await dwOn("cpu", c, 11 + i * 7);
      await selectBackend("webgpu");
      const before = tf.memory().numTensors;
      const got = await dwOn("webgpu", c, 11 + i * 7);
      expect(tf.memory().numTensors).toBe(before);
      expect(relError(got, want)).toBeLessThan(1e-4);
    });
  }

  gpu("sums patch chunks of a few images (and leaks nothing)", async () => {
    const c = CASES[1] as Case;
    const want = await dwOn("cpu", c, 99);
    const previous = setWebgpuPatchChunkLimit(1);
    try {
      await selectBackend("webgpu");
      const before = tf.memory().numTensors;
      const got = await dwOn("webgpu", c, 99);
      expect(tf.memory().numTensors).toBe(before);
      expect(relError(got, want)).toBeLessThan(1e-4);
    } finally {
      setWebgpuPatchChunkLimit(previous);
    }
  });

  gpu("gives tf.grad of a small conv net the cpu backend's filter gradients", async () => {
    const run = async (backend: string) => {
      await selectBackend(backend);
      const x = tf.tensor4d(rand(4 * 10 * 10 * 3, 5), [4, 10, 10, 3]);
      const w1 = tf.tensor4d(rand(3 * 3 * 3 * 8, 6), [3, 3, 3, 8]);
      const w2 = tf.tensor4d(rand(3 * 3 * 8 * 4, 7), [3, 3, 8, 4]);
      const loss = (a: tf.Tensor4D, b: tf.Tensor4D) =>
        tf.sum(tf.square(tf.conv2d(tf.relu(tf.conv2d(x, a, 1, "same")), b, 2, "same")));
      const before = tf.memory().numTensors;
      const [g1, g2] = tf.grads((a, b) => loss(a as tf.Tensor4D, b as tf.Tensor4D))([w1, w2]);
      const values = await Promise.all(
        [g1, g2].map(async (g) => (await g?.data()) as Float32Array),
      );
      tf.dispose([g1, g2] as tf.Tensor[]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, w1, w2]);
      return values;
    };
    const cpu = await run("cpu");
    const gpuGrads = await run("webgpu");
    for (const [j, g] of gpuGrads.entries()) {
      expect(relError(g, cpu[j] as Float32Array)).toBeLessThan(1e-4);
    }
  });
});
