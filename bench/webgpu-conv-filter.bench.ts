/**
 * Conv2DBackpropFilter on webgpu: tfjs-backend-webgpu's own kernel against
 * the previous patch path (im2col from tfjs ops: pad + one slice per filter
 * tap + chunked concats, then one matmul; kept here, in the bench only) and
 * ours (core/engine/kernels/webgpu-conv2d-backprop-filter.ts: the patch
 * matrix from one WGSL program, one matmul, split of the rows: "auto" and
 * fixed S values, --splits), for ResNet-18-like layer shapes scaled down for
 * lavapipe (WebGPU on the CPU). Each figure is the median over --runs calls,
 * each synchronised by `await data()`, after --warmup calls; "disp" is the
 * number of GPU programs one call runs (counted through the backend's
 * runWebGPUProgram; buffer copies are not counted); rel.err is the largest
 * of the variants' max abs diff / max abs value against tfjs's kernel.
 *
 * Run: XDG_RUNTIME_DIR=/tmp npx tsx bench/webgpu-conv-filter.bench.ts
 *        [--batch 8] [--runs 5] [--warmup 1] [--scale 1] [--splits auto,1] [--json]
 * (--scale 4 multiplies the spatial size by 4: real ResNet-18 shapes at
 * 224x224 input, for a real GPU; there, e.g. --batch 128 --splits auto,1,4,16
 * A/Bs the split. SGD_STUDIO_WEBGPU_FILTER_SPLIT sets it for training runs.)
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
} from "@tensorflow/tfjs-core";
import { selectBackend } from "../core/engine/backends.js";
import { countWebgpuPrograms } from "../core/engine/kernels/testing.js";
import { nativeWasmKernel } from "../core/engine/kernels/wasm-util.js";
import {
  chooseFilterSplit,
  type FilterSplit,
  setWebgpuFilterSplit,
  webgpuConv2DBackpropFilterConfig,
} from "../core/engine/kernels/webgpu-conv2d-backprop-filter.js";
import type { WebGpuBackendLike } from "../core/engine/kernels/webgpu-program.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const batch = Number(arg("batch", "8"));
const runs = Number(arg("runs", "5"));
const warmup = Number(arg("warmup", "1"));
const scale = Number(arg("scale", "1"));
const splits: FilterSplit[] = arg("splits", "auto,1")
  .split(",")
  .map((s) => (s.trim() === "auto" ? "auto" : Number(s)));
const json = process.argv.includes("--json");

interface Shape {
  name: string;
  /** input height = width, channels in, channels out, filter size, stride, padding */
  hw: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: "same" | "valid";
}

const SHAPES: Shape[] = [
  { name: "stage1 3x3", hw: 32, cin: 64, cout: 64, k: 3, stride: 1, pad: "same" },
  { name: "stage2 3x3 s2", hw: 32, cin: 64, cout: 128, k: 3, stride: 2, pad: "same" },
  { name: "stage2 1x1 s2", hw: 32, cin: 64, cout: 128, k: 1, stride: 2, pad: "valid" },
  { name: "stage2 3x3", hw: 16, cin: 128, cout: 128, k: 3, stride: 1, pad: "same" },
  { name: "stage3 3x3", hw: 8, cin: 256, cout: 256, k: 3, stride: 1, pad: "same" },
];

// ---------------------------------------------------------------------------
// The previous patch path (slices + concat), for comparison only.
// ---------------------------------------------------------------------------

/** Inputs per Concat (below WebGPU's 8 storage buffers per shader stage). */
const CONCAT_CHUNK = 6;
const LEGACY_MAX_PATCH_ELEMENTS = 64 * 1024 * 1024;

function concatLast(parts: tf.Tensor4D[]): tf.Tensor4D {
  let level = parts;
  while (level.length > 1) {
    const next: tf.Tensor4D[] = [];
    for (let i = 0; i < level.length; i += CONCAT_CHUNK) {
      const group = level.slice(i, i + CONCAT_CHUNK);
      next.push(group.length === 1 ? (group[0] as tf.Tensor4D) : tf.concat4d(group, 3));
    }
    level = next;
  }
  return level[0] as tf.Tensor4D;
}

const slicesConcatKernel: KernelFunc = ({ inputs, attrs }) => {
  const xt = inputs.x as tf.Tensor4D;
  const dyt = inputs.dy as tf.Tensor4D;
  const { strides, pad, dimRoundingMode, filterShape } =
    attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = backend_util.computeConv2DInfo(
    xt.shape,
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const needH = (outHeight - 1) * sh + fh;
  const needW = (outWidth - 1) * sw + fw;
  const bottom = Math.max(0, needH - inHeight - top);
  const right = Math.max(0, needW - inWidth - left);
  const k = fh * fw * inChannels;
  const perImage = outHeight * outWidth * k;
  const imagesPerChunk = Math.max(
    1,
    Math.min(batchSize, Math.floor(LEGACY_MAX_PATCH_ELEMENTS / perImage)),
  );
  return tf.tidy(() => {
    let sum: tf.Tensor2D | null = null;
    for (let b0 = 0; b0 < batchSize; b0 += imagesPerChunk) {
      const n = Math.min(imagesPerChunk, batchSize - b0);
      const whole = n === batchSize;
      const xc = whole ? xt : tf.slice(xt, [b0, 0, 0, 0], [n, -1, -1, -1]);
      const dyc = whole ? dyt : tf.slice(dyt, [b0, 0, 0, 0], [n, -1, -1, -1]);
      const hUsed = Math.min(inHeight, needH - top);
      const wUsed = Math.min(inWidth, needW - left);
      const xCropped =
        hUsed < inHeight || wUsed < inWidth
          ? tf.slice(xc, [0, 0, 0, 0], [n, hUsed, wUsed, inChannels])
          : xc;
      const xp =
        top || bottom || left || right
          ? tf.pad(xCropped, [
              [0, 0],
              [top, bottom],
              [left, right],
              [0, 0],
            ])
          : xCropped;
      const taps: tf.Tensor4D[] = [];
      for (let kh = 0; kh < fh; kh++) {
        for (let kw = 0; kw < fw; kw++) {
          taps.push(
            sh === 1 && sw === 1
              ? tf.slice(xp, [0, kh, kw, 0], [n, outHeight, outWidth, inChannels])
              : (tf.stridedSlice(
                  xp,
                  [0, kh, kw, 0],
                  [n, kh + (outHeight - 1) * sh + 1, kw + (outWidth - 1) * sw + 1, inChannels],
                  [1, sh, sw, 1],
                ) as tf.Tensor4D),
          );
        }
      }
      const rows = n * outHeight * outWidth;
      const patches = tf.reshape(concatLast(taps), [rows, k]) as tf.Tensor2D;
      const dy2 = tf.reshape(dyc, [rows, outChannels]) as tf.Tensor2D;
      const part: tf.Tensor2D = tf.matMul(patches, dy2, true, false);
      sum = sum ? tf.add<tf.Tensor2D>(sum, part) : part;
    }
    return tf.reshape(sum as tf.Tensor2D, [fh, fw, inChannels, outChannels]);
  });
};

// ---------------------------------------------------------------------------

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

function run(x: tf.Tensor4D, dy: tf.Tensor4D, s: Shape): tf.Tensor {
  return tf.engine().runKernel(
    "Conv2DBackpropFilter",
    { x, dy } as unknown as tf.NamedTensorMap,
    {
      strides: s.stride,
      pad: s.pad,
      dataFormat: "NHWC",
      filterShape: [s.k, s.k, s.cin, s.cout],
    } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor;
}

interface Variant {
  label: string;
  kernel: KernelConfig;
  split?: FilterSplit;
}

/** Runs with the given kernel registered for webgpu: median ms, programs per call, last result. */
async function time(
  v: Variant,
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  s: Shape,
): Promise<{ ms: number; programs: number; values: Float32Array }> {
  tf.unregisterKernel(Conv2DBackpropFilter, "webgpu");
  tf.registerKernel(v.kernel);
  const previous = v.split === undefined ? undefined : setWebgpuFilterSplit(v.split);
  try {
    const ms: number[] = [];
    let values = new Float32Array(0);
    for (let i = 0; i < warmup + runs; i++) {
      const t0 = performance.now();
      const dw = run(x, dy, s);
      values = Float32Array.from((await dw.data()) as Float32Array);
      const t1 = performance.now();
      dw.dispose();
      if (i >= warmup) ms.push(t1 - t0);
    }
    const programs = await countWebgpuPrograms(async () => {
      const dw = run(x, dy, s);
      await dw.data();
      dw.dispose();
    });
    return { ms: median(ms), programs, values };
  } finally {
    if (previous !== undefined) setWebgpuFilterSplit(previous);
  }
}

function relError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    max = Math.max(max, Math.abs(b[i] as number));
  }
  return max === 0 ? diff : diff / max;
}

async function main(): Promise<void> {
  const sel = await selectBackend("webgpu");
  const ours = tf.getKernel(Conv2DBackpropFilter, "webgpu");
  const native = nativeWasmKernel(Conv2DBackpropFilter);
  if (ours?.kernelFunc !== webgpuConv2DBackpropFilterConfig.kernelFunc || !native) {
    throw new Error("the webgpu Conv2DBackpropFilter override is not registered");
  }
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const flag = tf.env().getNumber("WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL");
  const threshold = flag > 0 ? flag : (backend.thresholdToIncreaseWorkgroups ?? 8);
  const variants: Variant[] = [
    { label: "tfjs", kernel: native },
    {
      label: "slices",
      kernel: {
        kernelName: Conv2DBackpropFilter,
        backendName: "webgpu",
        kernelFunc: slicesConcatKernel,
      },
    },
    ...splits.map((split) => ({ label: `S=${split}`, kernel: ours, split })),
  ];
  const rows: Record<string, unknown>[] = [];
  const w = 13;
  if (!json) {
    console.log(`${sel.summary}; batch ${batch}, median of ${runs} (+${warmup} warm-up)`);
    console.log(
      "ms per call (GPU programs per call); auto: the S that S=auto picks; speed-up: tfjs / best S; rel.err: largest vs tfjs",
    );
    console.log(
      `${"shape".padEnd(22)} ${"x shape".padEnd(17)} ${variants.map((v) => v.label.padStart(w)).join(" ")}  auto  speed-up  rel.err`,
    );
  }
  try {
    for (const s of SHAPES) {
      const hw = s.hw * scale;
      const x = tf.randomUniform([batch, hw, hw, s.cin], -1, 1, "float32", 1) as tf.Tensor4D;
      const out =
        s.pad === "same" ? Math.ceil(hw / s.stride) : Math.ceil((hw - s.k + 1) / s.stride);
      const dy = tf.randomUniform([batch, out, out, s.cout], -1, 1, "float32", 2) as tf.Tensor4D;
      const results: Awaited<ReturnType<typeof time>>[] = [];
      for (const v of variants) results.push(await time(v, x, dy, s));
      tf.dispose([x, dy]);
      const base = results[0] as { ms: number; values: Float32Array };
      const autoSplit = chooseFilterSplit(batch * out * out, s.k * s.k * s.cin, s.cout, threshold);
      const best = Math.min(...results.slice(2).map((r) => r.ms));
      const row = {
        shape: `${s.name} ${s.cin}->${s.cout}`,
        x: [batch, hw, hw, s.cin],
        autoSplit,
        variants: variants.map((v, i) => ({
          label: v.label,
          ms: results[i]?.ms,
          programs: results[i]?.programs,
        })),
        speedupVsTfjs: base.ms / best,
        relError: Math.max(...results.slice(1).map((r) => relError(r.values, base.values))),
      };
      rows.push(row);
      if (!json) {
        const cells = results.map((r) => `${r.ms.toFixed(1)} (${r.programs})`.padStart(w));
        console.log(
          `${row.shape.padEnd(22)} ${JSON.stringify(row.x).padEnd(17)} ${cells.join(" ")} ${String(autoSplit).padStart(5)} ${`${row.speedupVsTfjs.toFixed(2)}x`.padStart(9)}  ${row.relError.toExponential(1)}`,
        );
      }
    }
  } finally {
    tf.unregisterKernel(Conv2DBackpropFilter, "webgpu");
    tf.registerKernel(ours);
  }
  if (json) console.log(JSON.stringify({ batch, runs, warmup, scale, threshold, rows }, null, 2));
}

await main();
