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
  _FusedMatMul,
  type _FusedMatMulAttrs,
  Add,
  BatchMatMul,
  type BatchMatMulAttrs,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  Relu,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { runTask } from "./wasm-parallel.js";
import { gemmTask, transposeTask } from "./wasm-parallel-tasks.js";
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

/** Matrices in a tensor's leading (batch) axes. */
const batchOf = (t: TensorInfo) => util.sizeFromShape(t.shape.slice(0, -2));

/**
 * a [.., m, k] x b [.., k, n] for unbatched float32 operands (batch axes of
 * size 1 only): our own SIMD product (wasm-simd.ts's gemm8, on the kernel
 * pool's threads; wasm-parallel-tasks.ts's gemmTask), not XNNPACK's.
 *
 * Why (issue 19): XNNPACK repacks its right operand on every call (the
 * weights change every step) serially, and splits even a [128,128] x
 * [128,10] product across its threadpool, whose call returns only once
 * every thread has checked in: on 2 threads the mlp's small products took
 * 0.2-0.4 ms instead of 0.02-0.08 and its large ones were no faster than on
 * one. The pool's chunks go to whichever thread is free (a late thread
 * costs nothing), each output element is summed in the same order
 * whatever the chunking (results independent of the thread count), and
 * products under two chunks of work run on the calling thread alone.
 * With `transposeA`, `a` is stored [.., k, m] and read in place (a weight
 * gradient x^T dy: copying x^T first cost ~0.13 ms of the mlp's step on any
 * thread count, serial).
 */
function gemm(
  backend: WasmBackendLike,
  a: TensorInfo,
  b: TensorInfo,
  transposeA = false,
): TensorInfo {
  const ra = a.shape.length;
  const m = a.shape[ra - (transposeA ? 1 : 2)] as number;
  const k = a.shape[ra - (transposeA ? 2 : 1)] as number;
  const n = b.shape[b.shape.length - 1] as number;
  const lead = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  const out = backend.makeOutput([...lead, m, n], "float32");
  const c = heapF32(backend, out, WHO);
  if (k === 0 || m === 0 || n === 0) {
    c.fill(0);
    return out;
  }
  const at = (info: TensorInfo) => heapF32(backend, info, WHO).byteOffset;
  runTask(
    backend,
    gemmTask,
    [at(a), at(b), c.byteOffset, m, k, n, transposeA ? 1 : 0],
    (m * n * k) / GEMM_WORK_PER_ELEMENT,
  );
  return out;
}

/** Multiply-adds counted as one element of a chunk's work (pool chunks of ~0.5 M multiply-adds, ~20-40 us). */
const GEMM_WORK_PER_ELEMENT = 4;

/**
 * a [.., m, k] x b^T for b [.., n, k] with n >= 4m and no batch: computed as
 * (b x a^T)^T, so that XNNPACK packs a^T (k x m) instead of b^T (k x n).
 * XNNPACK repacks its right operand on every call, serially (~3 ns per
 * element here): for the cnn's dense-layer input gradient dy [128, 128] x
 * W^T (W [3136, 128]) that is 16 K elements instead of 401 K, ~1.3 ms of the
 * step on any thread count, for one more transpose (on the kernel pool).
 * With our own product (gemm, no packing) this order no longer saves
 * anything (it copies a^T and the [n, m] product, ~ as much as b^T); it is
 * kept as measured for the cnn (bench/RESULTS.md, issue 19, 13:43).
 */
function smallPackedProduct(
  backend: WasmBackendLike,
  anyBackend: unknown,
  a: TensorInfo,
  b: TensorInfo,
): TensorInfo | null {
  const m = a.shape[a.shape.length - 2] as number;
  const n = b.shape[b.shape.length - 2] as number;
  if (batchOf(a) !== 1 || batchOf(b) !== 1 || n < 4 * m) return null;
  const at = transposedCopy(backend, a); // [.., k, m]
  let prod: TensorInfo | undefined;
  try {
    prod = ownProducts
      ? gemm(backend, b, at)
      : one(
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

/** Unbatched products through gemm (true) or XNNPACK (false: A/B measurements, tests). */
let ownProducts = true;

/** Chooses gemm or XNNPACK for unbatched products; returns the previous choice. */
export function setOwnProducts(on: boolean): boolean {
  const previous = ownProducts;
  ownProducts = on;
  return previous;
}

export const wasmBatchMatMul: KernelFunc = (args) => {
  const { inputs, backend: anyBackend, attrs } = args;
  const backend = anyBackend as unknown as WasmBackendLike;
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) {
    return runNative(WHO, args);
  }
  const own = ownProducts && batchOf(a) === 1 && batchOf(b) === 1;
  if (!transposeA && !transposeB) return own ? gemm(backend, a, b) : runNative(WHO, args);
  if (own && transposeA && !transposeB) return gemm(backend, a, b, true);
  if (transposeB && !transposeA) {
    const small = smallPackedProduct(backend, anyBackend, a, b);
    if (small) return small;
  }
  const at = transposeA ? transposedCopy(backend, a) : a;
  let bt: TensorInfo | undefined;
  try {
    bt = transposeB ? transposedCopy(backend, b) : b;
    if (own) return gemm(backend, at, bt);
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

/**
 * _FusedMatMul (a dense layer's a x b + bias, then linear or ReLU): for
 * unbatched float32 operands, our product (BatchMatMul above) then the bias
 * Add and Relu kernels registered on wasm (wasm-elementwise.ts's, inline for
 * small tensors), instead of XNNPACK's fully-connected operator on its
 * thread pool (issue 19: the mlp's last layer, [128,128] x [128,10], took
 * ~0.3-0.4 ms on 2 threads against ~0.05 on one). XNNPACK starts each sum
 * from the bias, ours adds it last: equal within float rounding. Anything
 * else (batched operands, other activations, PReLU weights): wasm's own.
 */
const wasmFusedMatMul: KernelFunc = (args) => {
  const { inputs, backend: anyBackend, attrs } = args;
  const backend = anyBackend as unknown as WasmBackendLike;
  const a = inputs.a as TensorInfo;
  const b = inputs.b as TensorInfo;
  const bias = inputs.bias as TensorInfo | undefined;
  const { transposeA, transposeB, activation } = attrs as unknown as _FusedMatMulAttrs;
  const plain =
    ownProducts &&
    a.dtype === "float32" &&
    b.dtype === "float32" &&
    a.shape.length >= 2 &&
    b.shape.length >= 2 &&
    batchOf(a) === 1 &&
    batchOf(b) === 1 &&
    inputs.preluActivationWeights === undefined &&
    (activation === undefined || activation === "linear" || activation === "relu") &&
    (bias === undefined || (bias.dtype === "float32" && bias.shape.length <= 1));
  if (!plain) return runNative(_FusedMatMul, args);
  let out = one(
    wasmBatchMatMul({ inputs: { a, b }, backend: anyBackend, attrs: { transposeA, transposeB } }),
  );
  for (const [kernel, more] of [
    [Add, bias ? { b: bias } : null],
    [Relu, activation === "relu" ? {} : null],
  ] as const) {
    if (!more) continue;
    const k = getKernel(kernel, "wasm");
    if (!k) throw new Error(`wasm kernel ${kernel} is not registered`);
    const inputsOf = kernel === Add ? { a: out, ...more } : { x: out };
    const next = one(
      k.kernelFunc({ inputs: inputsOf, backend: anyBackend, attrs: {} }) as TensorInfo,
    );
    backend.disposeData(out.dataId);
    out = next;
  }
  return out;
};

export const wasmFusedMatMulConfig: KernelConfig = {
  kernelName: _FusedMatMul,
  backendName: "wasm",
  kernelFunc: wasmFusedMatMul,
};
