/**
 * FusedBatchNorm (the forward pass) for the wasm backend, with per-channel
 * statistics.
 *
 * Why: tfjs-backend-wasm 4.22's own kernel takes ~17-20 ms for the cnn's
 * [128,28,28,32] activation, several times a plain elementwise op (it
 * re-derives each parameter's index per element). With per-channel mean,
 * variance, offset and scale (rank 1, or [1, ..., 1, C], which is what batch
 * normalisation over the channels passes), ours folds scale and variance
 * into one factor per channel, computed in float64,
 *
 *   y = (x - mean[c]) * k[c] + offset[c],   k[c] = scale[c] / sqrt(variance[c] + eps)
 *
 * (tfjs's cpu formula), in one pass: the kernel pool's centredScaleTask,
 * whose loop is f32x4 WebAssembly (wasm-simd.ts), split over the backend's
 * threads. (It used to be three of the wasm backend's own broadcasting
 * Sub / Multiply / Add kernels, ~2 ms each here on one thread whatever the
 * thread count; the pass rounds exactly as those three did, so the values
 * are unchanged. A JS loop with per-channel lookups is ~7x slower.)
 *
 * Handed back to the backend's own kernel: other parameter shapes and
 * non-float32 inputs.
 */
import {
  FusedBatchNorm,
  type FusedBatchNormAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { runTask } from "./wasm-parallel.js";
import { centredScaleTask } from "./wasm-parallel-tasks.js";
import { heapF32, runNative, type WasmBackendLike } from "./wasm-util.js";

const WHO = "FusedBatchNorm";

/** Whether `p` holds one value per channel of the last axis (c of them). */
function perChannel(p: TensorInfo | undefined, c: number): boolean {
  if (!p) return true;
  if (p.dtype !== "float32") return false;
  const s = p.shape;
  return s.length >= 1 && s[s.length - 1] === c && s.slice(0, -1).every((d) => d === 1);
}

export const wasmFusedBatchNorm: KernelFunc = (args) => {
  const { inputs, backend: anyBackend, attrs } = args;
  const backend = anyBackend as unknown as WasmBackendLike;
  const x = inputs.x as TensorInfo;
  const mean = inputs.mean as TensorInfo;
  const variance = inputs.variance as TensorInfo;
  const offset = inputs.offset as TensorInfo | undefined;
  const scale = inputs.scale as TensorInfo | undefined;
  const c = x.shape[x.shape.length - 1];
  if (
    x.dtype !== "float32" ||
    x.shape.length < 1 ||
    c === undefined ||
    c === 0 ||
    ![mean, variance, offset, scale].every((p) => perChannel(p, c)) ||
    !mean ||
    !variance
  ) {
    return runNative(WHO, args);
  }
  const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
  // coef rows: mean, k, offset (0 without one).
  const coef = backend.makeOutput([3, c], "float32");
  const out = backend.makeOutput([...x.shape], "float32");
  try {
    const m = heapF32(backend, mean, WHO);
    const v = heapF32(backend, variance, WHO);
    const s = scale ? heapF32(backend, scale, WHO) : null;
    const o = offset ? heapF32(backend, offset, WHO) : null;
    const kv = heapF32(backend, coef, WHO);
    for (let j = 0; j < c; j++) {
      kv[j] = m[j] as number;
      kv[c + j] = (s ? (s[j] as number) : 1) / Math.sqrt((v[j] as number) + varianceEpsilon);
      kv[2 * c + j] = o ? (o[j] as number) : 0;
    }
    const at = (t: TensorInfo) => heapF32(backend, t, WHO).byteOffset;
    const size = util.sizeFromShape(x.shape);
    if (size > 0) {
      runTask(anyBackend, centredScaleTask, [at(x), at(coef), at(out), size / c, c], size);
    }
    return out;
  } finally {
    backend.disposeData(coef.dataId);
  }
};

export const wasmFusedBatchNormConfig: KernelConfig = {
  kernelName: FusedBatchNorm,
  backendName: "wasm",
  kernelFunc: wasmFusedBatchNorm,
};
