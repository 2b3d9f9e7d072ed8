/**
 * A classifier's loss in one kernel and its gradient in one more (issue 19):
 *
 *   SgdStudioSoftmaxXent      logits [N, C], labels [N, C] -> loss (scalar,
 *                             mean over rows of -sum_c labels * log softmax),
 *                             correct (scalar: rows whose first largest logit
 *                             is their first largest label)
 *   SgdStudioSoftmaxXentGrad  logits, labels, dy -> dlogits [N, C]
 *                             = dy * (softmax * sum_c labels - labels) / N
 *
 * Why: tf.losses.softmaxCrossEntropy is ~30 small kernels per step with its
 * gradient (logSumExp's Max, Sub, Exp, Sum, Log, Add; the mean's Sum and
 * RealDiv; casts, reshapes, identities) and the correct count 8 more, all
 * on the tape. On a [128, 10] batch each kernel computes next to nothing:
 * the step pays tfjs's bookkeeping per kernel (~8 us on this machine), ~0.4
 * ms of the mlp's ~5 ms step, serial whatever the thread count.
 *
 * cpu and wasm (the rows are small: one JS pass on the calling thread, in
 * float64, each result rounded to float32 once). Other backends (webgpu)
 * keep tfjs's ops: `softmaxXentAvailable` says which path a backend takes.
 * SGD_STUDIO_FUSED_LOSS=0 turns it off everywhere (A/B runs).
 */
import {
  engine,
  type GradConfig,
  getBackend,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedTensorInfoMap,
  type Scalar,
  type Tensor,
  type TensorInfo,
  zeros,
} from "@tensorflow/tfjs-core";
import type { CpuBackendLike } from "./cpu-util.js";
import { heapF32, type WasmBackendLike } from "./wasm-util.js";

export const SOFTMAX_XENT = "SgdStudioSoftmaxXent";
export const SOFTMAX_XENT_GRAD = "SgdStudioSoftmaxXentGrad";

/** Off: tfjs's ops on every backend (SGD_STUDIO_FUSED_LOSS=0, A/B benchmarks, tests). */
let fused = process.env.SGD_STUDIO_FUSED_LOSS !== "0";

/** Turns the fused loss on or off; returns the previous setting. */
export function setFusedLoss(on: boolean): boolean {
  const previous = fused;
  fused = on;
  return previous;
}

/** Whether the active backend computes the loss with these kernels. */
export function softmaxXentAvailable(): boolean {
  const backend = getBackend();
  return (
    fused &&
    getKernel(SOFTMAX_XENT, backend) !== undefined &&
    getKernel(SOFTMAX_XENT_GRAD, backend) !== undefined
  );
}

/**
 * [loss, correct] of `logits` [N, C] against `labels` [N, C] (one-hot, or
 * any rows of non-negative weights; int32 or float32). The loss has a
 * gradient with respect to the logits; `correct` has none.
 */
export function softmaxXent(logits: Tensor, labels: Tensor): [Scalar, Scalar] {
  return engine().runKernel(SOFTMAX_XENT, { logits, labels } as never) as unknown as [
    Scalar,
    Scalar,
  ];
}

/* ----------------------------------------------------------- arithmetic */

/** Checks the inputs; returns [rows, classes]. */
function shapeOf(inputs: NamedTensorInfoMap, who: string): [number, number] {
  const { logits, labels } = inputs;
  if (!logits || !labels) throw new Error(`${who}: inputs logits and labels are required`);
  if (logits.dtype !== "float32") throw new Error(`${who}: logits must be float32`);
  if (labels.dtype !== "float32" && labels.dtype !== "int32") {
    throw new Error(`${who}: labels must be float32 or int32`);
  }
  const [n, c] = logits.shape;
  if (
    logits.shape.length !== 2 ||
    labels.shape.length !== 2 ||
    labels.shape[0] !== n ||
    labels.shape[1] !== c
  ) {
    throw new Error(
      `${who}: logits and labels must both be [rows, classes] (got [${logits.shape}] and [${labels.shape}])`,
    );
  }
  return [n as number, c as number];
}

/** log(sum_c exp(row)) of one row, in float64 (NaN in, NaN out). */
function logSumExp(x: ArrayLike<number>, at: number, c: number): number {
  let max = -Infinity;
  for (let j = 0; j < c; j++) {
    const v = x[at + j] as number;
    if (v > max || Number.isNaN(v)) max = v;
  }
  if (max === -Infinity || max === Infinity || Number.isNaN(max)) {
    // Every logit -inf (sum 0), an infinite or a NaN logit: the plain formula says what it is.
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(x[at + j] as number);
    return Math.log(s);
  }
  let s = 0;
  for (let j = 0; j < c; j++) s += Math.exp((x[at + j] as number) - max);
  return max + Math.log(s);
}

/** First index of the row's largest value (tf.argMax's choice on ties). */
function argMax(x: ArrayLike<number>, at: number, c: number): number {
  let best = 0;
  for (let j = 1; j < c; j++) if ((x[at + j] as number) > (x[at + best] as number)) best = j;
  return best;
}

/** [mean loss, correct rows]. */
export function xentForward(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  c: number,
): [number, number] {
  let total = 0;
  let correct = 0;
  for (let i = 0, at = 0; i < n; i++, at += c) {
    const lse = logSumExp(logits, at, c);
    for (let j = 0; j < c; j++) {
      const y = labels[at + j] as number;
      if (y !== 0) total += y * (lse - (logits[at + j] as number));
    }
    if (argMax(logits, at, c) === argMax(labels, at, c)) correct++;
  }
  return [n > 0 ? total / n : Number.NaN, correct];
}

/** out = dy * (softmax * sum(labels) - labels) / N, row by row. */
export function xentGrad(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  dy: number,
  n: number,
  c: number,
  out: Float32Array,
): void {
  const scale = dy / n;
  for (let i = 0, at = 0; i < n; i++, at += c) {
    const lse = logSumExp(logits, at, c);
    let mass = 0;
    for (let j = 0; j < c; j++) mass += labels[at + j] as number;
    for (let j = 0; j < c; j++) {
      const p = Math.exp((logits[at + j] as number) - lse);
      out[at + j] = scale * (p * mass - (labels[at + j] as number));
    }
  }
}

/* -------------------------------------------------------------- kernels */

/** A tensor's values on the cpu backend (no copy). */
function cpuValues(backend: CpuBackendLike, t: TensorInfo): ArrayLike<number> {
  return backend.data.get(t.dataId).values as ArrayLike<number>;
}

const cpuForward: KernelFunc = ({ inputs, backend }) => {
  const b = backend as unknown as CpuBackendLike;
  const [n, c] = shapeOf(inputs, SOFTMAX_XENT);
  const [loss, correct] = xentForward(
    cpuValues(b, inputs.logits as TensorInfo),
    cpuValues(b, inputs.labels as TensorInfo),
    n,
    c,
  );
  return [
    b.makeTensorInfo([], "float32", Float32Array.of(loss)),
    b.makeTensorInfo([], "float32", Float32Array.of(correct)),
  ];
};

const cpuGrad: KernelFunc = ({ inputs, backend }) => {
  const b = backend as unknown as CpuBackendLike;
  const [n, c] = shapeOf(inputs, SOFTMAX_XENT_GRAD);
  const out = new Float32Array(n * c);
  const dy = cpuValues(b, inputs.dy as TensorInfo)[0] as number;
  xentGrad(
    cpuValues(b, inputs.logits as TensorInfo),
    cpuValues(b, inputs.labels as TensorInfo),
    dy,
    n,
    c,
    out,
  );
  return b.makeTensorInfo([n, c], "float32", out);
};

const wasmForward: KernelFunc = ({ inputs, backend }) => {
  const b = backend as unknown as WasmBackendLike;
  const [n, c] = shapeOf(inputs, SOFTMAX_XENT);
  const loss = b.makeOutput([], "float32");
  const correct = b.makeOutput([], "float32");
  // Views after the outputs: allocating may grow (and detach views of) the heap.
  const [l, k] = xentForward(
    heapF32(b, inputs.logits as TensorInfo, SOFTMAX_XENT),
    b.typedArrayFromHeap(inputs.labels as TensorInfo),
    n,
    c,
  );
  heapF32(b, loss, SOFTMAX_XENT)[0] = l;
  heapF32(b, correct, SOFTMAX_XENT)[0] = k;
  return [loss, correct];
};

const wasmGrad: KernelFunc = ({ inputs, backend }) => {
  const b = backend as unknown as WasmBackendLike;
  const [n, c] = shapeOf(inputs, SOFTMAX_XENT_GRAD);
  const out = b.makeOutput([n, c], "float32");
  xentGrad(
    heapF32(b, inputs.logits as TensorInfo, SOFTMAX_XENT_GRAD),
    b.typedArrayFromHeap(inputs.labels as TensorInfo),
    heapF32(b, inputs.dy as TensorInfo, SOFTMAX_XENT_GRAD)[0] as number,
    n,
    c,
    heapF32(b, out, SOFTMAX_XENT_GRAD),
  );
  return out;
};

export const softmaxXentKernels: KernelConfig[] = [
  { kernelName: SOFTMAX_XENT, backendName: "cpu", kernelFunc: cpuForward },
  { kernelName: SOFTMAX_XENT_GRAD, backendName: "cpu", kernelFunc: cpuGrad },
  { kernelName: SOFTMAX_XENT, backendName: "wasm", kernelFunc: wasmForward },
  { kernelName: SOFTMAX_XENT_GRAD, backendName: "wasm", kernelFunc: wasmGrad },
];

/** The loss's gradient (the correct count has none: its dy is null). */
export const softmaxXentGradConfig: GradConfig = {
  kernelName: SOFTMAX_XENT,
  inputsToSave: ["logits", "labels"],
  gradFunc: (dys, saved) => {
    const [logits, labels] = saved as [Tensor, Tensor];
    const dy = (Array.isArray(dys) ? dys[0] : dys) as Tensor;
    return {
      logits: () =>
        engine().runKernel(SOFTMAX_XENT_GRAD, { logits, labels, dy } as never) as Tensor,
      labels: () => zeros(labels.shape),
    };
  },
};
