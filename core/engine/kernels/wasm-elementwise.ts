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
  backend_util,
  type KernelConfig,
  type KernelFunc,
  Multiply,
  Neg,
  RealDiv,
  Relu,
  Sub,
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

/**
 * Elementwise ops on small tensors (at most SMALL output elements) run here
 * in JS, on the calling thread. Why (issue 19): the threaded build gives
 * every float32 Add / Sub / Multiply / RealDiv / Neg to XNNPACK's thread
 * pool, and a softmax cross-entropy's [128, 10] Sub, Multiply and Neg took
 * 0.2-0.5 ms each on 2 threads against ~0.01 ms on one (the pool's wake-up
 * and wait). Worse, after each such op XNNPACK's worker spins for its next
 * command (pthreadpool's spin-wait) for longer than an mlp's step: one
 * scalar RealDiv per step (the loss's mean) kept a core busy spinning, and
 * every kernel of the step, ours included, ran ~1.4x slower on 2 threads. A loop over
 * 1,280 elements takes a few microseconds. IEEE single operations: the same
 * values as XNNPACK's.
 */
export const SMALL = 1 << 14;

/**
 * The ops by number. Each has its own inner loop (binaryRow): a call through
 * a table of four functions per element is megamorphic, returns a boxed
 * double, and cost ~370 KB of garbage per mlp step (a young-generation GC
 * every ~20 steps, each a 2-4 ms stalled step).
 */
const OPS: Record<string, number> = { [Add]: 0, [Sub]: 1, [Multiply]: 2, [RealDiv]: 3 };

/** o[e + t] = x[ia + t*ka] op y[ib + t*kb] for t < count. */
function binaryRow(
  op: number,
  o: Float32Array,
  e: number,
  x: Float32Array,
  ia: number,
  ka: number,
  y: Float32Array,
  ib: number,
  kb: number,
  count: number,
): void {
  const end = e + count;
  switch (op) {
    case 0:
      for (; e < end; e++, ia += ka, ib += kb) o[e] = (x[ia] as number) + (y[ib] as number);
      break;
    case 1:
      for (; e < end; e++, ia += ka, ib += kb) o[e] = (x[ia] as number) - (y[ib] as number);
      break;
    case 2:
      for (; e < end; e++, ia += ka, ib += kb) o[e] = (x[ia] as number) * (y[ib] as number);
      break;
    default:
      for (; e < end; e++, ia += ka, ib += kb) o[e] = (x[ia] as number) / (y[ib] as number);
  }
}

/** Strides of `shape` broadcast to rank-4 `out` (0 along broadcast axes), padded in front. */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const padded = [...new Array(4 - shape.length).fill(1), ...shape];
  const strides = [0, 0, 0, 0];
  let s = 1;
  for (let i = 3; i >= 0; i--) {
    const d = padded[i] as number;
    strides[i] = d === 1 && (out[i] as number) !== 1 ? 0 : s;
    s *= d;
  }
  return strides;
}

/** a op b with broadcasting, in JS, for float32 outputs of at most SMALL elements and rank <= 4; null otherwise. */
function smallBinary(
  backend: WasmBackendLike,
  name: string,
  a: TensorInfo,
  b: TensorInfo,
): TensorInfo | null {
  const op = OPS[name];
  if (op === undefined || a.dtype !== "float32" || b.dtype !== "float32") return null;
  const shape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const n = util.sizeFromShape(shape);
  if (n > SMALL || shape.length > 4) return null;
  const out = backend.makeOutput(shape, "float32");
  const o = heapF32(backend, out, name);
  const x = heapF32(backend, a, name);
  const y = heapF32(backend, b, name);
  const s4 = [...new Array(4 - shape.length).fill(1), ...shape];
  const sa = broadcastStrides(a.shape, s4);
  const sb = broadcastStrides(b.shape, s4);
  const [d0, d1, d2, d3] = s4 as [number, number, number, number];
  let e = 0;
  for (let i0 = 0; i0 < d0; i0++) {
    for (let i1 = 0; i1 < d1; i1++) {
      for (let i2 = 0; i2 < d2; i2++) {
        const ia = i0 * (sa[0] as number) + i1 * (sa[1] as number) + i2 * (sa[2] as number);
        const ib = i0 * (sb[0] as number) + i1 * (sb[1] as number) + i2 * (sb[2] as number);
        binaryRow(op, o, e, x, ia, sa[3] as number, y, ib, sb[3] as number, d3);
        e += d3;
      }
    }
  }
  return out;
}

/** Sub, Multiply, RealDiv: small ones here (smallBinary), the others by wasm's own kernels. */
function smallBinaryKernel(name: string): KernelFunc {
  return (args) => {
    const backend = args.backend as unknown as WasmBackendLike;
    const small = smallBinary(
      backend,
      name,
      args.inputs.a as TensorInfo,
      args.inputs.b as TensorInfo,
    );
    return small ?? runNative(name, args);
  };
}

const wasmNeg: KernelFunc = (args) => {
  const backend = args.backend as unknown as WasmBackendLike;
  const x = args.inputs.x as TensorInfo;
  const n = util.sizeFromShape(x.shape);
  if (x.dtype !== "float32" || n > SMALL) return runNative(Neg, args);
  const out = backend.makeOutput([...x.shape], "float32");
  const o = heapF32(backend, out, Neg);
  const v = heapF32(backend, x, Neg);
  for (let i = 0; i < n; i++) o[i] = -(v[i] as number);
  return out;
};

const wasmAdd: KernelFunc = (args) => {
  const backend = args.backend as unknown as WasmBackendLike;
  const a = args.inputs.a as TensorInfo;
  const b = args.inputs.b as TensorInfo;
  if (a.dtype !== "float32" || b.dtype !== "float32" || !isBias(a, b)) {
    return smallBinary(backend, Add, a, b) ?? runNative(Add, args);
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

export const wasmSubConfig: KernelConfig = {
  kernelName: Sub,
  backendName: "wasm",
  kernelFunc: smallBinaryKernel(Sub),
};

export const wasmMultiplyConfig: KernelConfig = {
  kernelName: Multiply,
  backendName: "wasm",
  kernelFunc: smallBinaryKernel(Multiply),
};

export const wasmNegConfig: KernelConfig = {
  kernelName: Neg,
  backendName: "wasm",
  kernelFunc: wasmNeg,
};

export const wasmRealDivConfig: KernelConfig = {
  kernelName: RealDiv,
  backendName: "wasm",
  kernelFunc: smallBinaryKernel(RealDiv),
};
