import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it, vi } from "vitest";
import { probeBackends, selectBackend } from "../backends.js";
import { rand, relError, size, webgpuProgramsRun } from "./testing.js";
import {
  chooseFilterSplit,
  type FilterSplit,
  setWebgpuFilterSplit,
  setWebgpuPatchChunkLimit,
  webgpuConv2DBackpropFilter,
} from "./webgpu-conv2d-backprop-filter.js";
import type { WebGpuBackendLike } from "./webgpu-program.js";

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
  // cin % 4 == 0: the patch program reads and writes vec4s.
  {
    name: "5x5 stride 2 same, odd size, cin 8",
    x: [2, 11, 9, 8],
    filter: [5, 5, 8, 3],
    strides: 2,
    pad: "same",
  },
  {
    name: "3x3 stride 1 valid, cin 12",
    x: [3, 7, 7, 12],
    filter: [3, 3, 12, 5],
    strides: 1,
    pad: "valid",
  },
  {
    name: "explicit pads, 5x5 stride 2, cin 4",
    x: [2, 9, 10, 4],
    filter: [5, 5, 4, 6],
    strides: 2,
    pad: [
      [0, 0],
      [2, 0],
      [1, 3],
      [0, 0],
    ],
  },
  {
    name: "1x1 stride 1 valid, cin 6, odd size",
    x: [3, 5, 7, 6],
    filter: [1, 1, 6, 7],
    strides: 1,
    pad: "valid",
  },
];

const SPLITS: FilterSplit[] = [1, 2, 3, "auto"];

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

/** The webgpu backend's live data ids (GPU buffers and pending uploads). */
const numDataIds = (): number => (tf.backend() as unknown as WebGpuBackendLike).numDataIds();

/**
 * dW on webgpu with the given split, checking that no tensor or data id
 * leaks; also returns the shader keys of the programs the call ran.
 */
async function dwOnWebgpu(
  c: Case,
  seed: number,
  split: FilterSplit,
): Promise<{ values: Float32Array; programs: string[] }> {
  await selectBackend("webgpu");
  const previous = setWebgpuFilterSplit(split);
  const x = tf.tensor4d(rand(size(c.x), seed), c.x);
  const dy = tf.tensor4d(rand(size(dyShape(c)), seed + 1), dyShape(c));
  await Promise.all([x.data(), dy.data()]);
  const tensors = tf.memory().numTensors;
  const ids = numDataIds();
  try {
    const { result: values, programs } = await webgpuProgramsRun(async () => {
      const dw = backpropFilter(x, dy, c);
      expect(dw.shape).toEqual(c.filter);
      const out = Float32Array.from((await dw.data()) as Float32Array);
      dw.dispose();
      return out;
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(numDataIds()).toBe(ids);
    return { values, programs };
  } finally {
    setWebgpuFilterSplit(previous);
    tf.dispose([x, dy]);
  }
}

const count = (programs: string[], key: string): number =>
  programs.filter((p) => p.startsWith(key)).length;

describe("Conv2DBackpropFilter on webgpu (im2col + matmul)", async () => {
  const [probe] = await probeBackends({ only: ["webgpu"] });
  if (!probe?.available) {
    console.warn(`skipping the webgpu Conv2DBackpropFilter tests: no adapter (${probe?.reason})`);
  }
  const gpu = it.skipIf(!probe?.available && !process.env.CI);

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
    gpu(`matches the cpu backend: ${c.name}; splits ${SPLITS.join(", ")}`, async () => {
      const want = await dwOn("cpu", c, 11 + i * 7);
      for (const split of SPLITS) {
        const { values, programs } = await dwOnWebgpu(c, 11 + i * 7, split);
        expect(relError(values, want), `split ${split}`).toBeLessThan(1e-4);
        expect(count(programs, "sgdConv2dFilterPatches"), `split ${split}`).toBe(1);
        const component = c.x[3] % 4 === 0 ? 4 : 1;
        expect(count(programs, `sgdConv2dFilterPatches_c${component}`)).toBe(1);
        // Tiny problems: auto does not split; a forced split sums its parts.
        expect(count(programs, "sgdSumLeadingAxis"), `split ${split}`).toBe(
          split === "auto" || split === 1 ? 0 : 1,
        );
      }
    });
  }

  gpu("sums patch chunks of a few images (and leaks nothing), split or not", async () => {
    for (const c of [CASES[1], CASES[7]] as Case[]) {
      const want = await dwOn("cpu", c, 99);
      const previous = setWebgpuPatchChunkLimit(1);
      try {
        for (const split of SPLITS) {
          const { values, programs } = await dwOnWebgpu(c, 99, split);
          expect(relError(values, want), `${c.name}, split ${split}`).toBeLessThan(1e-4);
          // One patch program per image.
          expect(count(programs, "sgdConv2dFilterPatches")).toBe(c.x[0]);
        }
      } finally {
        setWebgpuPatchChunkLimit(previous);
      }
    }
  });

  gpu("auto splits a product with enough tiles and rows", async () => {
    // k = 36, cout = 8: 2 tiles of 32x32, above a threshold lowered to 1
    // (tfjs's flag, also read by the split) to keep the problem small;
    // 4096 rows -> S = 2 (at least 2048 rows per part).
    const c: Case = {
      name: "auto",
      x: [4, 32, 32, 4],
      filter: [3, 3, 4, 8],
      strides: 1,
      pad: "same",
    };
    const flag = "WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL";
    expect(chooseFilterSplit(4096, 36, 8, 1)).toBe(2);
    const want = await dwOn("cpu", c, 5);
    await selectBackend("webgpu");
    const previous = tf.env().getNumber(flag);
    tf.env().set(flag, 1);
    try {
      const { values, programs } = await dwOnWebgpu(c, 5, "auto");
      expect(relError(values, want)).toBeLessThan(1e-4);
      expect(count(programs, "sgdSumLeadingAxis")).toBe(1);
      // patches, batched matmul, sum: no slice, pad, concat or transpose.
      expect(programs.length).toBe(3);
    } finally {
      tf.env().set(flag, previous);
    }
  });

  gpu("builds patch matrices of more than 65,535 workgroups (2-D dispatch)", async () => {
    // 2 * 48 * 48 rows x 33 * 33 columns = 5.0M threads of 64 per workgroup.
    const c: Case = {
      name: "big",
      x: [2, 48, 48, 1],
      filter: [33, 33, 1, 2],
      strides: 1,
      pad: "same",
    };
    const want = await dwOn("cpu", c, 3);
    const { values, programs } = await dwOnWebgpu(c, 3, 1);
    expect(relError(values, want)).toBeLessThan(1e-4);
    expect(count(programs, "sgdConv2dFilterPatches_c1")).toBe(1);
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

describe("chooseFilterSplit", () => {
  it("aims at about 512 workgroups of 32x32 tiles, a power of two", () => {
    // ResNet-18 stage 1 at batch 128 on 32x32 images: k = 576, cout = 64, 36 tiles.
    expect(chooseFilterSplit(128 * 32 * 32, 576, 64)).toBe(16);
    expect(chooseFilterSplit(128 * 16 * 16, 576, 128)).toBe(8);
    expect(chooseFilterSplit(128 * 16 * 16, 1152, 128)).toBe(4);
  });
  it("keeps at least 2048 rows per part", () => {
    expect(chooseFilterSplit(128 * 32 * 32, 147, 64)).toBe(64);
    expect(chooseFilterSplit(8 * 32 * 32, 576, 64)).toBe(4);
    expect(chooseFilterSplit(4095, 576, 64)).toBe(1);
  });
  it("does not split products with many tiles, or few (tfjs's own split-K)", () => {
    expect(chooseFilterSplit(128 * 8 * 8, 2304, 256)).toBe(1);
    expect(chooseFilterSplit(128 * 16 * 16, 64, 128)).toBe(1);
    expect(chooseFilterSplit(128 * 16 * 16, 64, 128, 4)).toBe(16);
  });
  it("reads SGD_STUDIO_WEBGPU_FILTER_SPLIT once, at load", async () => {
    const load = async (value: string) => {
      vi.stubEnv("SGD_STUDIO_WEBGPU_FILTER_SPLIT", value);
      vi.resetModules();
      const fresh = await import("./webgpu-conv2d-backprop-filter.js");
      vi.unstubAllEnvs();
      return fresh.setWebgpuFilterSplit("auto");
    };
    expect(await load("4")).toBe(4);
    expect(await load("auto")).toBe("auto");
    expect(await load("zero")).toBe("auto"); // warns
  });
  it("setWebgpuFilterSplit validates and returns the previous setting", () => {
    const previous = setWebgpuFilterSplit(3);
    expect(setWebgpuFilterSplit("auto")).toBe(3);
    expect(() => setWebgpuFilterSplit(0)).toThrow();
    expect(() => setWebgpuFilterSplit(1.5)).toThrow();
    setWebgpuFilterSplit(previous);
  });
});
