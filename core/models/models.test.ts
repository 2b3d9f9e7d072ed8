import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type * as tfl from "@tensorflow/tfjs-layers";
import { beforeAll, describe, expect, it } from "vitest";
import { countModelParams, createModel, layerSeed, MODEL_NAMES, modelParamCount } from "./index.js";

/*
 * Expected sizes, computed independently of the model code.
 * conv(k, cin, cout) = k*k*cin*cout (no bias: every conv is followed by BN);
 * bn(c) = 2c trainable (gamma, beta) + 2c moving statistics;
 * dense(in, out) = in*out + out.
 */
const conv = (k: number, cin: number, cout: number) => k * k * cin * cout;
const bn = (c: number) => 2 * c;
const dense = (i: number, o: number) => i * o + o;

/** ResNet-18 (CIFAR): stem, [2,2,2,2] BasicBlocks, 1x1 conv+BN shortcuts where the shape changes. */
function resnet18Params(classes: number): number {
  let total = conv(3, 3, 64) + bn(64);
  let inC = 64;
  for (const width of [64, 128, 256, 512]) {
    for (let i = 0; i < 2; i++) {
      total += conv(3, inC, width) + bn(width) + conv(3, width, width) + bn(width);
      if (inC !== width) total += conv(1, inC, width) + bn(width);
      inC = width;
    }
  }
  return total + dense(512, classes);
}

/**
 * WRN-d-k: stem conv 16, three groups of n=(d-4)/6 pre-activation blocks of
 * widths 16k, 32k, 64k (block: BN(in), conv3x3 in->w, BN(w), conv3x3 w->w,
 * plus a 1x1 conv shortcut when in != w), final BN, dense.
 * WRN-16-4: n = 2, widths 64/128/256 -> 2,748,890 for 10 classes, i.e. the
 * paper's "2.7M"; WRN-28-10: n = 4, widths 160/320/640 -> 36,479,194 ("36.5M").
 */
function wrnParams(depth: number, k: number, classes: number): number {
  const n = (depth - 4) / 6;
  let total = conv(3, 3, 16);
  let inC = 16;
  for (const width of [16 * k, 32 * k, 64 * k]) {
    for (let i = 0; i < n; i++) {
      total += bn(inC) + conv(3, inC, width) + bn(width) + conv(3, width, width);
      if (inC !== width) total += conv(1, inC, width);
      inC = width;
    }
  }
  return total + bn(inC) + dense(inC, classes);
}

function trainableBnChannels(model: tfl.LayersModel): number {
  return model.layers
    .filter((l) => l.getClassName() === "BatchNormalization")
    .reduce((n, l) => n + (l.getWeights()[0]?.size ?? 0), 0);
}

async function weightsOf(model: tfl.LayersModel): Promise<Float32Array[]> {
  return Promise.all(
    model.getWeights().map(async (w) => Float32Array.from((await w.data()) as Float32Array)),
  );
}

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

describe("model zoo", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("independent formulas give the published sizes", () => {
    expect(resnet18Params(10)).toBe(11_173_962);
    expect(wrnParams(28, 10, 10)).toBe(36_479_194);
    expect(wrnParams(16, 4, 10)).toBe(2_748_890);
  });

  it("counts parameters from the architecture without building it", () => {
    expect(countModelParams("resnet18").trainable).toBe(11_173_962);
    expect(countModelParams("wrn-28-10").trainable).toBe(36_479_194);
    expect(countModelParams("wrn-16-4").trainable).toBe(wrnParams(16, 4, 10));
    expect(countModelParams("resnet18", { numClasses: 100 }).trainable).toBe(resnet18Params(100));
    expect(countModelParams("wrn-16-4", { numClasses: 100 }).trainable).toBe(wrnParams(16, 4, 100));
    // 784-256-128-10 MLP and the two-block CNN.
    expect(countModelParams("mlp").trainable).toBe(
      dense(784, 256) + dense(256, 128) + dense(128, 10),
    );
    expect(countModelParams("cnn").trainable).toBe(
      conv(3, 1, 32) + bn(32) + conv(3, 32, 64) + bn(64) + dense(7 * 7 * 64, 128) + dense(128, 10),
    );
    expect(() => countModelParams("vgg")).toThrow(/Unknown model "vgg"/);
  });

  it("builds ResNet-18 with 11,173,962 trainable parameters", () => {
    const m = createModel("resnet18", { seed: 1 });
    const count = modelParamCount(m);
    expect(count.trainable).toBe(11_173_962);
    // BN moving mean/variance are not trainable: as many as gamma+beta.
    expect(count.nonTrainable).toBe(2 * trainableBnChannels(m));
    expect(count).toEqual(countModelParams("resnet18"));
    m.dispose();
  });

  it("builds WRN-16-4 with the formula's count", () => {
    const m = createModel("wrn-16-4", { seed: 1 });
    expect(modelParamCount(m)).toEqual(countModelParams("wrn-16-4"));
    expect(modelParamCount(m).trainable).toBe(2_748_890);
    m.dispose();
  });

  it("builds WRN-28-10 with 36,479,194 trainable parameters", () => {
    const m = createModel("wrn-28-10", { seed: 1 });
    expect(modelParamCount(m).trainable).toBe(36_479_194);
    expect(modelParamCount(m)).toEqual(countModelParams("wrn-28-10"));
    m.dispose();
  }, 60_000);

  const FORWARD: [string, number[], number][] = [
    ["mlp", [28, 28, 1], 10],
    ["cnn", [28, 28, 1], 10],
    // The residual nets end in global average pooling: any input size >= 8 works.
    ["resnet18", [8, 8, 3], 10],
    ["wrn-16-4", [8, 8, 3], 100],
  ];
  for (const [name, inputShape, numClasses] of FORWARD) {
    it(`${name}: forward pass on cpu gives [batch, ${numClasses}] finite logits`, async () => {
      const m = createModel(name, { inputShape, numClasses, seed: 3 });
      const x = tf.randomNormal([2, ...inputShape], 0, 1, "float32", 5);
      const train = m.apply(x, { training: true }) as tf.Tensor;
      const infer = m.predict(x) as tf.Tensor;
      expect(train.shape).toEqual([2, numClasses]);
      expect(infer.shape).toEqual([2, numClasses]);
      const v = (await infer.data()) as Float32Array;
      expect(v.every(Number.isFinite)).toBe(true);
      expect(new Set(v).size).toBeGreaterThan(1);
      tf.dispose([x, train, infer]);
      m.dispose();
    });
  }

  it("all weights are trainable variables except the BN moving statistics", () => {
    const m = createModel("cnn", { seed: 0 });
    expect(m.trainableWeights.every((w) => w.trainable)).toBe(true);
    // tfjs suffixes variable names (_1, _2, ...) when a name was used before in the process.
    const names = m.nonTrainableWeights.map((w) => w.name.replace(/_\d+$/, ""));
    expect(names).toEqual([
      "bn1/moving_mean",
      "bn1/moving_variance",
      "bn2/moving_mean",
      "bn2/moving_variance",
    ]);
    m.dispose();
  });

  for (const name of ["mlp", "cnn", "wrn-16-4"]) {
    it(`${name}: the same seed gives identical weights, another seed different ones`, async () => {
      const small = name === "wrn-16-4" ? { inputShape: [8, 8, 3] } : {};
      const a = createModel(name, { ...small, seed: 42 });
      const b = createModel(name, { ...small, seed: 42 });
      const c = createModel(name, { ...small, seed: 43 });
      const [wa, wb, wc] = await Promise.all([weightsOf(a), weightsOf(b), weightsOf(c)]);
      expect(wa.length).toBe(wb.length);
      expect(wa.every((w, i) => same(w, wb[i] as Float32Array))).toBe(true);
      // Every randomly initialised tensor (kernels) differs with the seed;
      // the constant ones (biases, BN) do not.
      const random = wa.map((w) => new Set(w).size > 2);
      expect(random.filter(Boolean).length).toBeGreaterThanOrEqual(3);
      wa.forEach((w, i) => {
        expect(same(w, wc[i] as Float32Array)).toBe(!random[i]);
      });
      // Layers do not share a random stream.
      const kernels = wa.filter((_, i) => random[i]);
      expect(
        same((kernels[0] as Float32Array).slice(0, 8), (kernels[1] as Float32Array).slice(0, 8)),
      ).toBe(false);
      for (const m of [a, b, c]) m.dispose();
    });
  }

  it("derives distinct, stable per-layer seeds", () => {
    expect(layerSeed(0, "conv1")).toBe(layerSeed(0, "conv1"));
    expect(layerSeed(0, "conv1")).not.toBe(layerSeed(0, "conv2"));
    expect(layerSeed(0, "conv1")).not.toBe(layerSeed(1, "conv1"));
  });

  it("initialises conv kernels with He scaling", async () => {
    const m = createModel("resnet18", { inputShape: [8, 8, 3], seed: 5 });
    const w = m.getLayer("layer3_0_conv2").getWeights()[0] as tf.Tensor;
    expect(w.shape).toEqual([3, 3, 256, 256]);
    const v = (await w.data()) as Float32Array;
    const std = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    // Truncated normal of stddev sqrt(2 / fanIn), fanIn = 3*3*256; truncation shrinks it ~12%.
    const target = Math.sqrt(2 / (3 * 3 * 256));
    expect(std).toBeGreaterThan(0.8 * target);
    expect(std).toBeLessThan(1.02 * target);
    m.dispose();
  });
});

it("lists the models", () => {
  expect([...MODEL_NAMES]).toEqual(["mlp", "cnn", "resnet18", "wrn-16-4", "wrn-28-10"]);
});
