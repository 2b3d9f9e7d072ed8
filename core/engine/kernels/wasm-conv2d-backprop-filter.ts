/**
 * Conv2DBackpropFilter for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 ships no kernel for the filter gradient of a 2-D
 * convolution, so `tf.grad` of any conv net fails there. This kernel fills it
 * in: it lays the input's image patches out as a matrix in the wasm heap,
 * transposed (im2col^T: one row per filter tap [kh, kw, ci], one column per
 * output position) and multiplies it with dy by the wasm backend's own
 * BatchMatMul kernel, so the heavy part runs in wasm (XNNPACK):
 *
 *   dW[fh*fw*cin, cout] = patches^T[fh*fw*cin, P] x dy[P, cout],  P = N*outH*outW
 *
 * The product comes out in the filter's own [fh, fw, cin, cout] layout. Why
 * this orientation: the wasm matmul is fast only without transposed
 * operands, and it repacks its right operand (as XNNPACK "weights") on every
 * call, serially, at ~5 ns per element here; here that is dy (P x cout), not
 * the patch matrix (P x fh*fw*cin, 9x larger for a 3x3 filter over 32
 * channels). For the cnn's second conv this takes ~80 ms against ~200 ms
 * for patches-as-weights. When the patch matrix is the smaller one
 * (fh*fw*cin < cout: the cnn's first conv, 9 taps of one channel against 32
 * filters; packing its dy [100352, 32] took ~12-20 ms of a ~15-25 ms kernel)
 * the product is taken the other way round,
 *
 *   dW^T[cout, fh*fw*cin] = dy^T[cout, P] x patches[P, fh*fw*cin],
 *
 * with both operands transposed on the kernel pool first (issue 19).
 *
 * The patch matrix is built for whole images at a time, in chunks of at most
 * MAX_PATCH_ELEMENTS floats (at least one image), and the chunk products are
 * summed in JS. Building it (im2colTask, wasm-parallel-tasks.ts) is split
 * over images on the kernel pool's threads when the backend has them.
 *
 * Limits (as in tfjs-core's conv2d gradient): NHWC only, dilations 1,
 * float32. Padding 'same' | 'valid' | number | explicit, any strides.
 */
import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { runTask } from "./wasm-parallel.js";
import {
  im2colColumns,
  im2colTask,
  transposeBatched,
  transposeTask,
} from "./wasm-parallel-tasks.js";
import { heapF32, one, type WasmBackendLike, wasmKernelFunc } from "./wasm-util.js";

export type { WasmBackendLike } from "./wasm-util.js";

const WHO = "Conv2DBackpropFilter";

/** Default largest patch-matrix chunk, in float32 elements (16 MiB). */
export const MAX_PATCH_ELEMENTS = 4 * 1024 * 1024;
let maxPatchElements = MAX_PATCH_ELEMENTS;

/** Sets the patch-matrix chunk limit (tests use tiny ones); returns the previous limit. */
export function setPatchChunkLimit(elements: number): number {
  if (!Number.isInteger(elements) || elements < 1)
    throw new Error("limit must be a positive integer");
  const previous = maxPatchElements;
  maxPatchElements = elements;
  return previous;
}

/** Geometry of one convolution, as computed by tfjs-core. */
export interface Geometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/** im2colColumns' geometry array for a chunk of `images` images. */
function columnsGeometry(g: Geometry, images: number): number[] {
  return [g.inH, g.inW, g.inC, g.outH, g.outW, g.fh, g.fw, g.sh, g.sw, g.top, g.left, images];
}

/**
 * Writes the transposed im2col matrix of images [b0, b0 + images) of `x`
 * into `out`: row (kh*fw + kw)*inC + ci, column (b - b0)*outH*outW +
 * oh*outW + ow holds x[b, oh*sh + kh - top, ow*sw + kw - left, ci] (zero
 * outside the image).
 *
 * x is first copied channel-planar ([b, ci, h, w], a blocked transpose per
 * image), so that each output row reads one small contiguous plane (hot in
 * cache for the fh*fw rows that use it) instead of striding through all of
 * x once per row: ~4x faster for the cnn's second conv. (The kernel does the
 * same through im2colTask, on the kernel pool's threads.)
 */
export function im2colTransposed(
  x: Float32Array,
  g: Geometry,
  b0: number,
  images: number,
  out: Float32Array,
): void {
  const hw = g.inH * g.inW;
  const chunk = x.subarray(b0 * hw * g.inC, (b0 + images) * hw * g.inC);
  const planar = g.inC === 1 ? chunk : new Float32Array(chunk.length);
  if (g.inC > 1) transposeBatched(chunk, images, hw, g.inC, planar);
  im2colColumns(planar, out, columnsGeometry(g, images), 0, images);
}

export const wasmConv2DBackpropFilter: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as unknown as WasmBackendLike;
  const x = inputs.x as TensorInfo | undefined;
  const dy = inputs.dy as TensorInfo | undefined;
  if (!x || !dy) throw new Error(`${WHO} (wasm): inputs x and dy are required`);
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as Conv2DBackpropFilterAttrs;
  if (dataFormat === "NCHW") {
    throw new Error(`${WHO} (wasm): only NHWC is supported (got NCHW)`);
  }
  if (x.dtype !== "float32" || dy.dtype !== "float32") {
    throw new Error(`${WHO} (wasm): only float32 is supported`);
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  const g: Geometry = {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    fh: info.filterHeight,
    fw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
  if (dy.shape[1] !== g.outH || dy.shape[2] !== g.outW || dy.shape[3] !== g.outC) {
    throw new Error(
      `${WHO} (wasm): dy shape [${dy.shape}] does not match the ` +
        `convolution's output [${g.batch},${g.outH},${g.outW},${g.outC}]`,
    );
  }
  const matMul = wasmKernelFunc("BatchMatMul");
  const k = g.fh * g.fw * g.inC;
  const perImage = g.outH * g.outW;
  const imagesPerChunk = Math.max(
    1,
    Math.min(g.batch, Math.floor(maxPatchElements / (k * perImage))),
  );
  const whole = imagesPerChunk >= g.batch;
  const outShape = [...filterShape];
  const c = g.outC;
  // Which operand XNNPACK packs (serially, on every call: ~5 ns per element
  // here, more than the product itself for the cnn's first conv): the
  // smaller of dy [rows, c] and the patches [rows, k].
  const swapped = k < c;
  const out = backend.makeOutput(outShape, "float32");
  // Summed chunk products (only needed with more than one chunk, or swapped).
  const acc = whole && !swapped ? null : new Float64Array(k * c);
  try {
    for (let b0 = 0; b0 < g.batch; b0 += imagesPerChunk) {
      const images = Math.min(imagesPerChunk, g.batch - b0);
      const rows = images * perImage;
      // Allocate first: malloc may grow the wasm heap and detach older views.
      const patchesT = backend.makeOutput([k, rows], "float32");
      // x's images channel-planar (im2colTask's first step; x itself for one channel).
      const planar =
        g.inC > 1 ? backend.makeOutput([images * g.inH * g.inW * g.inC], "float32") : null;
      // Swapped: the patches untransposed and dy's rows transposed.
      const patches = swapped ? backend.makeOutput([rows, k], "float32") : null;
      const dyT = swapped ? backend.makeOutput([c, rows], "float32") : null;
      // dy's rows for these images: dy itself when there is one chunk.
      const dyRows =
        whole || swapped
          ? { dataId: dy.dataId, shape: [rows, c], dtype: dy.dtype }
          : backend.makeOutput([rows, c], "float32");
      let prod: TensorInfo | undefined;
      try {
        const at = (t: TensorInfo) => heapF32(backend, t, WHO).byteOffset;
        const xChunk = at(x) + b0 * g.inH * g.inW * g.inC * 4;
        const args = [
          xChunk,
          planar ? at(planar) : xChunk,
          at(patchesT),
          ...columnsGeometry(g, images),
        ];
        runTask(anyBackend, im2colTask, args, k * rows);
        const dyChunk = at(dy) + b0 * perImage * c * 4;
        if (patches && dyT) {
          // dW^T [c, k] = dy^T [c, rows] x patches [rows, k]: XNNPACK packs the patches.
          runTask(anyBackend, transposeTask, [at(patchesT), at(patches), 1, k, rows], k * rows);
          runTask(anyBackend, transposeTask, [dyChunk, at(dyT), 1, rows, c], rows * c);
          prod = one(
            matMul({
              inputs: { a: dyT, b: patches },
              backend: anyBackend,
              attrs: { transposeA: false, transposeB: false },
            }),
          );
        } else {
          if (!whole) {
            const start = b0 * perImage * c;
            const src = heapF32(backend, dy, WHO).subarray(start, start + rows * c);
            heapF32(backend, dyRows, WHO).set(src);
          }
          prod = one(
            matMul({
              inputs: { a: patchesT, b: dyRows },
              backend: anyBackend,
              attrs: { transposeA: false, transposeB: false },
            }),
          );
        }
        const part = heapF32(backend, prod, WHO); // [k, c], or [c, k] swapped
        if (acc && swapped) {
          for (let t = 0; t < k; t++) {
            for (let o = 0; o < c; o++) {
              acc[t * c + o] = (acc[t * c + o] as number) + (part[o * k + t] as number);
            }
          }
        } else if (acc) {
          for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) + (part[i] as number);
        } else {
          heapF32(backend, out, WHO).set(part);
        }
      } finally {
        backend.disposeData(patchesT.dataId);
        if (planar) backend.disposeData(planar.dataId);
        if (patches) backend.disposeData(patches.dataId);
        if (dyT) backend.disposeData(dyT.dataId);
        if (!whole && !swapped) backend.disposeData(dyRows.dataId);
        if (prod) backend.disposeData(prod.dataId);
      }
    }
    if (acc) heapF32(backend, out, WHO).set(acc);
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  return out;
};

export const wasmConv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: wasmConv2DBackpropFilter,
};
