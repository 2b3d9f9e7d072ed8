/**
 * Conv2DBackpropFilter for the webgpu backend, as one matrix product over
 * image patches.
 *
 * tfjs-backend-webgpu 4.22's own kernel loops over every output position per
 * filter element (one thread per dW element): on an H200 it was 84% of
 * ResNet-18's GPU time. Ours builds the im2col patch matrix on the device
 * and lets the webgpu matmul do the reduction:
 *
 *   patches[(n,ho,wo), (kh,kw,ci)] = x[n, ho*sh + kh - top, wo*sw + kw - left, ci]
 *                                    (0 outside the image)
 *   dW[(kh,kw,ci), co] = patches^T x dy[(n,ho,wo), co]
 *
 * The patch matrix is written by one WGSL program of ours (one thread per
 * element, per vec4 of channels when cin % 4 == 0); its columns come out in
 * the filter's own [fh, fw, cin] order so the product reshapes to
 * [fh, fw, cin, cout]. It is built for whole images at a time, at most
 * MAX_WEBGPU_PATCH_ELEMENTS floats per chunk (at least one image); the
 * program reads the chunk's images straight from x (the chunk's first image
 * is a uniform), and the chunks' products are summed.
 *
 * Split of the reduction (see chooseFilterSplit): the rows of the product
 * (its inner dimension, n*outH*outW) can be cut into S parts, one batched
 * matmul [S, rows/S, k]^T x [S, rows/S, cout] -> [S, k, cout], and the S
 * partial products summed by a second program of ours.
 *
 * A "replace" override (core/engine/kernels/index.ts): NCHW and non-float32
 * inputs go to webgpu's own kernel. (The filter gradient has no dilations:
 * tfjs-core's conv2d gradient rejects dilation rates > 1.) Every
 * intermediate tensor is disposed (tf.tidy).
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { nativeWasmKernel } from "./wasm-util.js";
import {
  asWebGpuBackend,
  flatProgram,
  int32Uniforms,
  runProgram,
  type WebGpuBackendLike,
  type WebGpuProgram,
} from "./webgpu-program.js";

const WHO = "Conv2DBackpropFilter (webgpu)";

/** Default largest patch-matrix chunk, in float32 elements (256 MiB). */
export const MAX_WEBGPU_PATCH_ELEMENTS = 64 * 1024 * 1024;
let maxPatchElements = MAX_WEBGPU_PATCH_ELEMENTS;

/** Sets the patch-matrix chunk limit (tests use tiny ones); returns the previous limit. */
export function setWebgpuPatchChunkLimit(elements: number): number {
  if (!Number.isInteger(elements) || elements < 1)
    throw new Error("limit must be a positive integer");
  const previous = maxPatchElements;
  maxPatchElements = elements;
  return previous;
}

// ---------------------------------------------------------------------------
// Split of the reduction.
//
// Why: tfjs's webgpu matmul computes one 32x32 tile of the output per
// workgroup (MatMulPackedProgram) as soon as there are more than 8 such tiles
// (its threshold for NVIDIA; 16 on recent Intel), and each workgroup loops
// over the whole inner dimension. dW is small (k x cout) while the inner
// dimension is huge: for ResNet-18's first stage at batch 128 on 32x32
// images, k = 576, cout = 64 gives 18 x 2 = 36 workgroups, each looping
// over 131,072 rows, on a GPU with 132 SMs: most of the GPU idles
// (occupancy). Cutting the rows into S parts gives S x 36 workgroups (one
// batched matmul) plus a cheap sum of the S partial dWs.
//
// The auto choice aims at about TARGET_WORKGROUPS workgroups while every
// part keeps at least MIN_SPLIT_ROWS rows; S is a power of two (rows of
// real layers are usually a multiple, so no padding). S = 1 when the product
// has enough tiles already, or so few (<= tfjs's threshold) that tfjs picks
// its own occupancy fix (MatMulSplitKProgram when the batch is 1).
// UNMEASURED on a real GPU so far (lavapipe runs workgroups on 2 CPU cores,
// where occupancy means nothing): A/B it with SGD_STUDIO_WEBGPU_FILTER_SPLIT
// (bench/webgpu-conv-filter.bench.ts prints both).
// ---------------------------------------------------------------------------

/** Workgroups the auto split aims at (about 4 per SM of a 132-SM GPU). */
export const TARGET_WORKGROUPS = 512;
/** Fewest rows per part of an auto split. */
export const MIN_SPLIT_ROWS = 2048;
/** tfjs's matmul tile (MatMulPackedProgram: 32x32 outputs per workgroup). */
const MATMUL_TILE = 32;

/** S for the reduction over `rows` rows of a [k, cout] product (see above). */
export function chooseFilterSplit(
  rows: number,
  k: number,
  cout: number,
  fewTilesThreshold = 8,
): number {
  const tiles = Math.ceil(k / MATMUL_TILE) * Math.ceil(cout / MATMUL_TILE);
  if (tiles <= fewTilesThreshold) return 1;
  // Nearest power of two to TARGET / tiles (in log scale).
  const want = 2 ** Math.max(0, Math.round(Math.log2(TARGET_WORKGROUPS / tiles)));
  const maxParts = Math.floor(rows / MIN_SPLIT_ROWS);
  if (maxParts < 2) return 1;
  const cap = 2 ** Math.floor(Math.log2(maxParts));
  return Math.min(want, cap);
}

/** The split in force: "auto" or a fixed S. */
export type FilterSplit = number | "auto";

function parseSplit(value: string | number, who: string): FilterSplit {
  if (value === "auto") return "auto";
  const s = typeof value === "number" ? value : Number(value.trim());
  if (!Number.isInteger(s) || s < 1) {
    throw new Error(`${who}: the split must be "auto" or a positive integer, got ${value}`);
  }
  return s;
}

/** SGD_STUDIO_WEBGPU_FILTER_SPLIT, read once at load ("auto" or an integer S >= 1). */
const ENV_SPLIT = "SGD_STUDIO_WEBGPU_FILTER_SPLIT";
let split: FilterSplit = (() => {
  const raw = typeof process === "undefined" ? undefined : process.env?.[ENV_SPLIT];
  if (raw === undefined || raw.trim() === "") return "auto";
  try {
    return parseSplit(raw.trim(), ENV_SPLIT);
  } catch (e) {
    console.warn(`${(e as Error).message}; using "auto"`);
    return "auto";
  }
})();

/**
 * Overrides the split of the reduction (benchmarks, tests): S parts (S is
 * clamped to the rows of a chunk), or "auto". Returns the previous setting.
 */
export function setWebgpuFilterSplit(s: FilterSplit): FilterSplit {
  const next = parseSplit(s, "setWebgpuFilterSplit");
  const previous = split;
  split = next;
  return previous;
}

// ---------------------------------------------------------------------------
// Programs.
// ---------------------------------------------------------------------------

/** Uniform fields of the patch program, in the order of patchUniforms. */
const PATCH_UNIFORMS = [
  "rows",
  "kV",
  "cinV",
  "filterW",
  "outArea",
  "outW",
  "strideH",
  "strideW",
  "padTop",
  "padLeft",
  "inH",
  "inW",
  "batchOffset",
] as const;
type PatchParams = Record<(typeof PATCH_UNIFORMS)[number], number>;

/**
 * The patch matrix [paddedRows, k] of a chunk: row r = (b, ho, wo) of the
 * chunk, column j = (kh*fw + kw)*cin + ci; rows >= `rows` (padding for an
 * uneven split) and taps outside the image are 0. With component 4 each
 * thread writes 4 channels (cin % 4 == 0), reading x as vec4s.
 */
function patchProgram(paddedRows: number, k: number, component: 1 | 4): WebGpuProgram {
  const zero = component === 4 ? "vec4<f32>(0.0)" : "0.0";
  return flatProgram({
    shaderKey: "sgdConv2dFilterPatches",
    outputShape: [paddedRows, k],
    variableNames: ["x"],
    component,
    uniforms: PATCH_UNIFORMS.map((u) => `${u} : i32,`).join(" "),
    main: `
  if (index >= uniforms.size) { return; }
  let r = index / uniforms.kV;
  let j = index - r * uniforms.kV;
  let tap = j / uniforms.cinV;
  let c = j - tap * uniforms.cinV;
  let kh = tap / uniforms.filterW;
  let kw = tap - kh * uniforms.filterW;
  let b = r / uniforms.outArea;
  let p = r - b * uniforms.outArea;
  let ho = p / uniforms.outW;
  let wo = p - ho * uniforms.outW;
  let ih = ho * uniforms.strideH + kh - uniforms.padTop;
  let iw = wo * uniforms.strideW + kw - uniforms.padLeft;
  var v = ${zero};
  if (r < uniforms.rows && ih >= 0 && ih < uniforms.inH && iw >= 0 && iw < uniforms.inW) {
    v = x[((uniforms.batchOffset + b) * uniforms.inH + ih) * uniforms.inW * uniforms.cinV +
          iw * uniforms.cinV + c];
  }
  setOutputAtIndex(index, v);`,
  });
}

function patchUniforms(p: PatchParams) {
  return int32Uniforms(PATCH_UNIFORMS.map((u) => p[u]));
}

/** out[i] = sum over s of parts[s, i], for parts [S, width] (vec4s when width % 4 == 0). */
function sumPartsProgram(width: number, component: 1 | 4): WebGpuProgram {
  return flatProgram({
    shaderKey: "sgdSumLeadingAxis",
    outputShape: [width],
    variableNames: ["parts"],
    component,
    uniforms: "numParts : i32, widthV : i32,",
    main: `
  if (index >= uniforms.size) { return; }
  var acc = parts[index];
  for (var s = 1; s < uniforms.numParts; s++) {
    acc += parts[s * uniforms.widthV + index];
  }
  setOutputAtIndex(index, acc);`,
  });
}

/** Sums [S, ...rest] over its first axis with one program. */
function sumLeading(backend: WebGpuBackendLike, parts: tf.Tensor): tf.Tensor {
  const [s, ...rest] = parts.shape;
  const width = tf.util.sizeFromShape(rest);
  const component = width % 4 === 0 ? 4 : 1;
  const out = runProgram(
    backend,
    sumPartsProgram(width, component),
    [parts],
    int32Uniforms([s as number, width / component]),
  );
  return tf.reshape(out, rest);
}

// ---------------------------------------------------------------------------
// Kernel.
// ---------------------------------------------------------------------------

/** webgpu's own kernel, which the override replaced (recorded by index.ts). */
function nativeKernel(): KernelFunc {
  // wasm-util keeps replaced kernels by name; wasm has no Conv2DBackpropFilter
  // of its own to replace, so the one recorded under this name is webgpu's.
  const k = nativeWasmKernel(Conv2DBackpropFilter);
  if (!k || k.backendName !== "webgpu") {
    throw new Error(
      `${WHO}: the backend's own kernel is unknown (register the overrides through registerKernelOverrides, after loading tfjs-backend-webgpu)`,
    );
  }
  return k.kernelFunc;
}

function asTensor(info: TensorInfo, backend: WebGpuBackendLike): tf.Tensor {
  if (info instanceof tf.Tensor) return info;
  // A TensorInfo from another kernel: a tracked tensor on the same data,
  // holding its own reference (tf.tidy disposes it, dropping only that).
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info);
}

export const webgpuConv2DBackpropFilter: KernelFunc = (args) => {
  const { inputs, attrs } = args;
  const x = inputs.x as TensorInfo | undefined;
  const dy = inputs.dy as TensorInfo | undefined;
  if (!x || !dy) throw new Error(`${WHO}: inputs x and dy are required`);
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as Conv2DBackpropFilterAttrs;
  if (dataFormat === "NCHW" || x.dtype !== "float32" || dy.dtype !== "float32") {
    return nativeKernel()(args);
  }
  const backend = asWebGpuBackend(args.backend, WHO);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
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
  const k = fh * fw * inChannels;
  const outArea = outHeight * outWidth;
  const perImage = outArea * k;
  const imagesPerChunk = Math.max(1, Math.min(batchSize, Math.floor(maxPatchElements / perImage)));
  const component = inChannels % 4 === 0 ? 4 : 1;
  if (outArea === 0 || batchSize === 0) {
    return tf.zeros([fh, fw, inChannels, outChannels], "float32");
  }
  // tfjs's matmul switches programs at this many tiles (flag, else the backend's).
  const flag = tf.env().getNumber("WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL");
  const threshold = flag > 0 ? flag : (backend.thresholdToIncreaseWorkgroups ?? 8);

  return tf.tidy(() => {
    const dyt = asTensor(dy, backend);
    let sum: tf.Tensor | null = null;
    for (let b0 = 0; b0 < batchSize; b0 += imagesPerChunk) {
      const n = Math.min(imagesPerChunk, batchSize - b0);
      const rows = n * outArea;
      const s = Math.min(
        rows,
        split === "auto" ? chooseFilterSplit(rows, k, outChannels, threshold) : split,
      );
      const partRows = Math.ceil(rows / s);
      const paddedRows = partRows * s;
      const patches = runProgram(
        backend,
        patchProgram(paddedRows, k, component),
        [x],
        patchUniforms({
          rows,
          kV: k / component,
          cinV: inChannels / component,
          filterW: fw,
          outArea,
          outW: outWidth,
          strideH: sh,
          strideW: sw,
          padTop: info.padInfo.top,
          padLeft: info.padInfo.left,
          inH: inHeight,
          inW: inWidth,
          batchOffset: b0,
        }),
      );
      const dyc = n === batchSize ? dyt : tf.slice(dyt, [b0, 0, 0, 0], [n, -1, -1, -1]);
      let dy2 = tf.reshape(dyc, [rows, outChannels]);
      // The padded rows of the patches are 0; dy's must be finite (0).
      if (paddedRows > rows)
        dy2 = tf.pad(dy2, [
          [0, paddedRows - rows],
          [0, 0],
        ]);
      let part: tf.Tensor;
      if (s === 1) {
        part = tf.matMul(patches as tf.Tensor2D, dy2 as tf.Tensor2D, true, false);
      } else {
        const parts = tf.matMul(
          tf.reshape(patches, [s, partRows, k]) as tf.Tensor3D,
          tf.reshape(dy2, [s, partRows, outChannels]) as tf.Tensor3D,
          true,
          false,
        );
        part = sumLeading(backend, parts);
      }
      sum = sum ? tf.add(sum, part) : part;
    }
    return tf.reshape(sum as tf.Tensor, [fh, fw, inChannels, outChannels]);
  });
};

export const webgpuConv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "webgpu",
  kernelFunc: webgpuConv2DBackpropFilter,
};
