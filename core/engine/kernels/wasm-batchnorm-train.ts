/**
 * Batch norm in training as one op (batchnorm-train.ts) on the wasm backend:
 * its MOMENTS, BATCH_NORM_GRAD_COEF and CHANNEL_AFFINE2 kernels (the fourth,
 * BATCH_NORM_GRAD_STATS, is in batchnorm-grad.ts), with their passes over
 * the activation on the kernel pool's threads.
 *
 * Why (issue 19): on wasm the layer used to take tfjs-layers' path, whose
 * ~20 kernels per layer and step include ~12 activation-sized ones (two
 * Means, Sub, Square, three for FusedBatchNorm; in the backward pass Tile,
 * Multiply, Sub's Sum, Square's two Multiplies, the Adds that collect x's
 * three gradients). Those that are tfjs's own elementwise kernels run on
 * one thread whatever the backend's thread count. The closed form needs
 * three passes over the activation besides the forward's FusedBatchNorm
 * (one for the moments, one for the gradient sums, one for dx), all of
 * them split over the threads. (Earlier, as plain single-threaded JS, these
 * kernels made the cnn step ~15% slower than tfjs-layers' path; they now
 * read the activation in cache-sized tiles with local accumulators.)
 *
 * Results do not depend on the thread count: the pool cuts the work by its
 * size only and adds per-part float64 sums in part order.
 */
import { type KernelConfig, type KernelFunc, type TensorInfo, util } from "@tensorflow/tfjs-core";
import {
  BATCH_NORM_GRAD_COEF,
  batchNormGradCoef,
  CHANNEL_AFFINE2,
  MOMENTS,
} from "./batchnorm-train.js";
import { floatInput } from "./tensor-info.js";
import { runTask, sumParts } from "./wasm-parallel.js";
import { channelAffine2Task, shiftedMomentsTask } from "./wasm-parallel-tasks.js";
import { heapF32, type WasmBackendLike } from "./wasm-util.js";

function channels(t: TensorInfo): number {
  return t.shape[t.shape.length - 1] as number;
}

/**
 * x [..., C] -> [2, C]: mean and biased variance, in one pass of shifted
 * float64 sums (shiftedMomentsTask; the cpu kernel makes two passes).
 */
const wasmMoments: KernelFunc = ({ inputs, backend: anyBackend }) => {
  const backend = anyBackend as unknown as WasmBackendLike;
  const x = floatInput(inputs, "x", MOMENTS);
  const c = channels(x);
  const out = backend.makeOutput([2, c], "float32");
  const rows = c > 0 ? util.sizeFromShape(x.shape) / c : 0;
  if (rows === 0) return out;
  const xv = heapF32(backend, x, MOMENTS);
  const shift = Float64Array.from(xv.subarray(0, c));
  const { scratch, parts } = runTask(
    anyBackend,
    shiftedMomentsTask,
    [xv.byteOffset, rows, c],
    rows * c,
    2 * c * 8,
  );
  const sums = sumParts(scratch, parts, 2 * c);
  const o = heapF32(backend, out, MOMENTS);
  for (let j = 0; j < c; j++) {
    const s1 = sums[j] as number;
    const s2 = sums[c + j] as number;
    o[j] = (shift[j] as number) + s1 / rows;
    o[c + j] = Math.max(0, (s2 - (s1 * s1) / rows) / rows);
  }
  return out;
};

/** stats [2, C], mean, variance, gamma [C] -> [5, C] (batchNormGradCoef); tiny, on this thread. */
const wasmBatchNormGradCoef: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as unknown as WasmBackendLike;
  const names = ["stats", "mean", "variance", "gamma"] as const;
  const infos = names.map((n) => floatInput(inputs, n, BATCH_NORM_GRAD_COEF));
  const c = channels(infos[1] as TensorInfo);
  const out = backend.makeOutput([5, c], "float32");
  const [stats, mean, variance, gamma] = infos.map((t) =>
    heapF32(backend, t, BATCH_NORM_GRAD_COEF),
  );
  const { epsilon, rows } = attrs as unknown as { epsilon: number; rows: number };
  batchNormGradCoef(
    stats as Float32Array,
    mean as Float32Array,
    variance as Float32Array,
    gamma as Float32Array,
    epsilon,
    rows,
    heapF32(backend, out, BATCH_NORM_GRAD_COEF),
  );
  return out;
};

/** a, b [..., C], coef [>= 3, C] -> a * coef[0] + b * coef[1] + coef[2] per channel. */
const wasmChannelAffine2: KernelFunc = ({ inputs, backend: anyBackend }) => {
  const backend = anyBackend as unknown as WasmBackendLike;
  const a = floatInput(inputs, "a", CHANNEL_AFFINE2);
  const b = floatInput(inputs, "b", CHANNEL_AFFINE2);
  const coef = floatInput(inputs, "coef", CHANNEL_AFFINE2);
  const c = channels(a);
  const size = util.sizeFromShape(a.shape);
  if (util.sizeFromShape(b.shape) !== size || util.sizeFromShape(coef.shape) < 3 * c) {
    throw new Error(
      `${CHANNEL_AFFINE2}: expected a and b of one size and coef [>= 3, ${c}], got ` +
        `${JSON.stringify([a.shape, b.shape, coef.shape])}`,
    );
  }
  const out = backend.makeOutput([...a.shape], "float32");
  if (size === 0) return out;
  const at = (t: TensorInfo) => heapF32(backend, t, CHANNEL_AFFINE2).byteOffset;
  runTask(anyBackend, channelAffine2Task, [at(a), at(b), at(coef), at(out), size / c, c], size);
  return out;
};

export const wasmBatchNormTrainKernels: KernelConfig[] = [
  { kernelName: MOMENTS, backendName: "wasm", kernelFunc: wasmMoments },
  { kernelName: BATCH_NORM_GRAD_COEF, backendName: "wasm", kernelFunc: wasmBatchNormGradCoef },
  { kernelName: CHANNEL_AFFINE2, backendName: "wasm", kernelFunc: wasmChannelAffine2 },
];
