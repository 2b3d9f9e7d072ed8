/**
 * Relu, and Add of a per-channel bias, for the wasm backend: the kernel
 * pool's SIMD loops (wasm-simd.ts) instead of XNNPACK's (issue 19).
 *
 * Why: on the threaded build, tfjs-backend-wasm hands every elementwise op
 * to XNNPACK's thread pool, which splits even a [128, 256] ReLU across the
 * threads and then waits for each of them to check in. For the small
 * tensors of a dense network (the mlp's ~100 kernels per step take ~7 ms)
 * that wake-up and wait costs more than the split saves, and on a machine
 * shared with other work a descheduled thread stalls the whole step (the
 * mlp's 2-thread mean step time was ~15% above its median). The pool runs
 * work under two chunks (2^18 elements) on the calling thread, and for
 * larger work a late worker costs nothing: the caller takes its chunks.
 * Same values: max(x, 0), and x + bias[c] rounded to float32.
 *
 * Handed back to the backend's own kernels: non-float32 tensors and any Add
 * other than "tensor [..., C] + bias of C values".
 */
import {
  Add,
  type KernelConfig,
  type KernelFunc,
  Relu,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { runTask } from "./wasm-parallel.js";
import { centredScaleTask, reluTask } from "./wasm-parallel-tasks.js";
import { heapF32, runNative, type WasmBackendLike } from "./wasm-util.js";

const wasmRelu: KernelFunc = (args) => {
  const backend = args.backend as unknown as WasmBackendLike;
  const x = args.inputs.x as TensorInfo;
  if (x.dtype !== "float32") return runNative(Relu, args);
  const out = backend.makeOutput([...x.shape], "float32");
  const n = util.sizeFromShape(x.shape);
  if (n === 0) return out;
  const at = (t: TensorInfo) => heapF32(backend, t, Relu).byteOffset;
  runTask(args.backend, reluTask, [at(x), at(out), n], n);
  return out;
};

/** Whether `b` is one value per channel of a's last axis (shape [C] or [1, ..., 1, C]). */
function isBias(a: TensorInfo, b: TensorInfo): boolean {
  const c = a.shape[a.shape.length - 1];
  if (c === undefined || c === 0 || b.shape.length === 0 || b.shape.length > a.shape.length) {
    return false;
  }
  return b.shape[b.shape.length - 1] === c && b.shape.slice(0, -1).every((d) => d === 1);
}

const wasmAdd: KernelFunc = (args) => {
  const backend = args.backend as unknown as WasmBackendLike;
  const a = args.inputs.a as TensorInfo;
  const b = args.inputs.b as TensorInfo;
  if (a.dtype !== "float32" || b.dtype !== "float32" || !isBias(a, b)) {
    return runNative(Add, args);
  }
  const c = a.shape[a.shape.length - 1] as number;
  // (x - 0) * 1 + bias: centredScale's rows m = 0, k = 1, o = bias (exact but for the add).
  const coef = backend.makeOutput([3, c], "float32");
  const out = backend.makeOutput([...a.shape], "float32");
  try {
    const k = heapF32(backend, coef, Add);
    k.fill(0, 0, c);
    k.fill(1, c, 2 * c);
    k.set(heapF32(backend, b, Add), 2 * c);
    const n = util.sizeFromShape(a.shape);
    const at = (t: TensorInfo) => heapF32(backend, t, Add).byteOffset;
    runTask(args.backend, centredScaleTask, [at(a), at(coef), at(out), n / c, c], n);
    return out;
  } finally {
    backend.disposeData(coef.dataId);
  }
};

export const wasmReluConfig: KernelConfig = {
  kernelName: Relu,
  backendName: "wasm",
  kernelFunc: wasmRelu,
};

export const wasmAddConfig: KernelConfig = {
  kernelName: Add,
  backendName: "wasm",
  kernelFunc: wasmAdd,
};
