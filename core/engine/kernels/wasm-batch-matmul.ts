/**
 * BatchMatMul for the wasm backend: transposed operands are transposed
 * explicitly first.
 *
 * Why: tfjs-backend-wasm 4.22's BatchMatMul is fast (XNNPACK) only without
 * transposes; with transposeA or transposeB it takes a slow path, ~12x
 * slower. A dense layer's weight and input gradients are exactly such
 * products (x^T dy and dy W^T): for the cnn's 3136->128 layer at batch 128,
 * ~90 ms and ~60 ms, against ~8 ms for the plain product. Ours copies a
 * transposed operand into a temporary [batch, rows, cols] matrix (a blocked
 * transpose in JS over the wasm heap, ~1 ms here; on the kernel pool's
 * threads when the backend has them) and calls the backend's own kernel
 * without transposes.
 */
import {
  BatchMatMul,
  type BatchMatMulAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { runTask } from "./wasm-parallel.js";
import { transposeTask } from "./wasm-parallel-tasks.js";
import { heapF32, one, runNative, type WasmBackendLike } from "./wasm-util.js";

const WHO = "BatchMatMul";

export { transposeBatched } from "./wasm-parallel-tasks.js";

/** A transposed copy of the last two axes of `t`, in the wasm heap. */
function transposedCopy(backend: WasmBackendLike, t: TensorInfo): TensorInfo {
  const rank = t.shape.length;
  const rows = t.shape[rank - 2] as number;
  const cols = t.shape[rank - 1] as number;
  const batch = util.sizeFromShape(t.shape.slice(0, -2));
  const copy = backend.makeOutput([...t.shape.slice(0, -2), cols, rows], "float32");
  const at = (info: TensorInfo) => heapF32(backend, info, WHO).byteOffset;
  runTask(backend, transposeTask, [at(t), at(copy), batch, rows, cols], batch * rows * cols);
  return copy;
}

/**
 * a [.., m, k] x b^T for b [.., n, k] with n >= 4m and no batch: computed as
 * (b x a^T)^T, so that XNNPACK packs a^T (k x m) instead of b^T (k x n).
 * XNNPACK repacks its right operand on every call, serially (~3 ns per
 * element here): for the cnn's dense-layer input gradient dy [128, 128] x
 * W^T (W [3136, 128]) that is 16 K elements instead of 401 K, ~1.3 ms of the
 * step on any thread count, for one more transpose (on the kernel pool).
 */
function smallPackedProduct(
  backend: WasmBackendLike,
  anyBackend: unknown,
  a: TensorInfo,
  b: TensorInfo,
): TensorInfo | null {
  const m = a.shape[a.shape.length - 2] as number;
  const n = b.shape[b.shape.length - 2] as number;
  const unbatched = (t: TensorInfo) => util.sizeFromShape(t.shape.slice(0, -2)) === 1;
  if (!unbatched(a) || !unbatched(b) || n < 4 * m) return null;
  const at = transposedCopy(backend, a); // [.., k, m]
  let prod: TensorInfo | undefined;
  try {
    prod = one(
      runNative(WHO, {
        inputs: { a: b, b: at },
        backend: anyBackend,
        attrs: { transposeA: false, transposeB: false },
      }),
    ); // [.., n, m]
    return transposedCopy(backend, prod);
  } finally {
    backend.disposeData(at.dataId);
    if (prod) backend.disposeData(prod.dataId);
  }
}

export const wasmBatchMatMul: KernelFunc = (args) => {
  const { inputs, backend: anyBackend, attrs } = args;
  const backend = anyBackend as unknown as WasmBackendLike;
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  if ((!transposeA && !transposeB) || a.dtype !== "float32" || b.dtype !== "float32") {
    return runNative(WHO, args);
  }
  if (a.shape.length < 2 || b.shape.length < 2) return runNative(WHO, args);
  if (transposeB && !transposeA) {
    const small = smallPackedProduct(backend, anyBackend, a, b);
    if (small) return small;
  }
  const at = transposeA ? transposedCopy(backend, a) : a;
  let bt: TensorInfo | undefined;
  try {
    bt = transposeB ? transposedCopy(backend, b) : b;
    return runNative(WHO, {
      inputs: { a: at, b: bt },
      backend: anyBackend,
      attrs: { transposeA: false, transposeB: false },
    });
  } finally {
    if (transposeA) backend.disposeData(at.dataId);
    if (transposeB && bt) backend.disposeData(bt.dataId);
  }
};

export const wasmBatchMatMulConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: "wasm",
  kernelFunc: wasmBatchMatMul,
};
