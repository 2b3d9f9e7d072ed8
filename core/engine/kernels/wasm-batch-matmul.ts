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
import { heapF32, runNative, type WasmBackendLike } from "./wasm-util.js";

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
