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
 * (tfjs's cpu formula), and evaluates it with three of the wasm backend's
 * own broadcasting Sub / Multiply / Add kernels, which are vectorised
 * (~2 ms each here; a JS loop with per-channel lookups is no faster than
 * the native kernel).
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
} from "@tensorflow/tfjs-core";
import { heapF32, one, runNative, type WasmBackendLike, wasmKernelFunc } from "./wasm-util.js";

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
  const k = backend.makeOutput([c], "float32");
  const temps: TensorInfo[] = [k];
  try {
    const v = heapF32(backend, variance, WHO);
    const s = scale ? heapF32(backend, scale, WHO) : null;
    const kv = heapF32(backend, k, WHO);
    for (let j = 0; j < c; j++) {
      kv[j] = (s ? (s[j] as number) : 1) / Math.sqrt((v[j] as number) + varianceEpsilon);
    }
    const flat = (t: TensorInfo): TensorInfo => ({ dataId: t.dataId, shape: [c], dtype: t.dtype });
    const binary = (name: string, a: TensorInfo, b: TensorInfo): TensorInfo =>
      one(wasmKernelFunc(name)({ inputs: { a, b }, backend: anyBackend, attrs: {} }));
    const centred = binary("Sub", x, flat(mean));
    temps.push(centred);
    const scaled = binary("Multiply", centred, k);
    if (!offset) return scaled;
    temps.push(scaled);
    return binary("Add", scaled, flat(offset));
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
};

export const wasmFusedBatchNormConfig: KernelConfig = {
  kernelName: FusedBatchNorm,
  backendName: "wasm",
  kernelFunc: wasmFusedBatchNorm,
};
