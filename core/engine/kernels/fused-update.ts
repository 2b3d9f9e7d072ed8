/**
 * Two fused kernels for a training step's bookkeeping (optimizer updates,
 * the squared gradient norm, batch norm's moving averages):
 *
 *   SgdStudioAxpby           x, y (same shape), attrs a, b -> a * x + b * y
 *   SgdStudioSumSquaresAdd   acc (scalar), x -> acc + sum(x * x)
 *
 * Why: on a GPU each tfjs kernel costs ~50 us of host time (command
 * encoding, a uniform buffer, a bind group), and an op given a JS number
 * (`tf.mul(g, lr)`) uploads a fresh scalar tensor. With tfjs's ops an SGD
 * update is Multiply + Sub per variable, the norm Square + Sum + Add per
 * gradient and a moving average Sub + Multiply + Sub per statistic: ~430 of
 * a ResNet-18 step's ~840 WebGPU programs. Here each is one kernel (the
 * norm: at most two dispatches), with a and b as uniforms, so the pipeline
 * is compiled once whatever the learning rate.
 *
 * cpu runs in JS (float64 arithmetic, a and b rounded to float32 as the GPU
 * sees them); wasm on the kernel pool (wasm-parallel.ts: axpby as f32x4
 * WebAssembly rounding each operation to float32, the sum of squares in
 * float64 parts); webgpu runs WGSL programs. The configs are registered
 * by core/engine/kernels/index.ts. `axpby` and `sumSquaresAdd` fall back to
 * tfjs's ops on backends without the kernels (tfjs-node).
 */
import {
  add,
  engine,
  getBackend,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  mul,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type NamedTensorMap,
  type Scalar,
  square,
  sum,
  type Tensor,
  type TensorInfo,
  tidy,
  util,
} from "@tensorflow/tfjs-core";
import { type CpuBackendLike, cpuF32 } from "./cpu-util.js";
import { floatInput, reshapedView } from "./tensor-info.js";
import { runTask, sumParts } from "./wasm-parallel.js";
import { axpbyTask, sumSquaresTask } from "./wasm-parallel-tasks.js";
import { heapF32, type WasmBackendLike } from "./wasm-util.js";
import {
  asWebGpuBackend,
  flatProgram,
  type ProgramUniform,
  type WebGpuProgram,
} from "./webgpu-program.js";

export const AXPBY = "SgdStudioAxpby";
export const SUM_SQUARES_ADD = "SgdStudioSumSquaresAdd";

function axpbyInputs(inputs: NamedTensorInfoMap): [TensorInfo, TensorInfo] {
  const x = floatInput(inputs, "x", AXPBY);
  const y = floatInput(inputs, "y", AXPBY);
  if (x.shape.length !== y.shape.length || x.shape.some((d, i) => d !== y.shape[i])) {
    throw new Error(`${AXPBY}: x and y must have the same shape`);
  }
  return [x, y];
}

function coefficients(attrs: NamedAttrMap | undefined): [number, number] {
  const { a, b } = (attrs ?? {}) as { a?: unknown; b?: unknown };
  if (typeof a !== "number" || typeof b !== "number") {
    throw new Error(`${AXPBY}: attrs a and b must be numbers`);
  }
  // The GPU gets them as f32 uniforms: round here too, so that all backends agree.
  return [Math.fround(a), Math.fround(b)];
}

function sumSquaresInputs(inputs: NamedTensorInfoMap): [TensorInfo, TensorInfo] {
  const acc = floatInput(inputs, "acc", SUM_SQUARES_ADD);
  const x = floatInput(inputs, "x", SUM_SQUARES_ADD);
  if (util.sizeFromShape(acc.shape) !== 1)
    throw new Error(`${SUM_SQUARES_ADD}: acc must be a scalar`);
  return [acc, x];
}

// ---------------------------------------------------------------------------
// JS implementations (cpu and wasm)

function axpbyInto(x: Float32Array, y: Float32Array, a: number, b: number, out: Float32Array) {
  for (let i = 0; i < out.length; i++) out[i] = a * (x[i] as number) + b * (y[i] as number);
}

function sumSquares(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (x[i] as number);
  return s;
}

const cpuAxpby: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as CpuBackendLike;
  const [x, y] = axpbyInputs(inputs);
  const [ca, cb] = coefficients(attrs);
  const out = new Float32Array(util.sizeFromShape(x.shape));
  axpbyInto(cpuF32(b, x, AXPBY), cpuF32(b, y, AXPBY), ca, cb, out);
  return b.makeTensorInfo([...x.shape], "float32", out);
};

/**
 * On wasm: the kernel pool's axpbyTask (f32x4 WebAssembly, wasm-simd.ts, on
 * the backend's threads when it has them; each operation rounded to
 * float32, as tfjs's Multiply and Sub did before this kernel).
 */
const wasmAxpby: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as WasmBackendLike;
  const [x, y] = axpbyInputs(inputs);
  const [ca, cb] = coefficients(attrs);
  const out = b.makeOutput([...x.shape], "float32");
  const n = util.sizeFromShape(x.shape);
  if (n === 0) return out;
  // Offsets after makeOutput: allocating may grow (and move views of) the heap.
  const at = (t: TensorInfo) => heapF32(b, t, AXPBY).byteOffset;
  runTask(backend, axpbyTask, [at(x), at(y), at(out), n, ca, cb], n);
  return out;
};

const cpuSumSquaresAdd: KernelFunc = ({ inputs, backend }) => {
  const b = backend as unknown as CpuBackendLike;
  const [acc, x] = sumSquaresInputs(inputs);
  const total =
    (cpuF32(b, acc, SUM_SQUARES_ADD)[0] as number) + sumSquares(cpuF32(b, x, SUM_SQUARES_ADD));
  return b.makeTensorInfo([], "float32", Float32Array.of(total));
};

/** On wasm: per-part float64 sums on the kernel pool, added in part order. */
const wasmSumSquaresAdd: KernelFunc = ({ inputs, backend }) => {
  const b = backend as unknown as WasmBackendLike;
  const [acc, x] = sumSquaresInputs(inputs);
  const out = b.makeOutput([], "float32");
  const n = util.sizeFromShape(x.shape);
  let total = heapF32(b, acc, SUM_SQUARES_ADD)[0] as number;
  if (n > 0) {
    const xOffset = heapF32(b, x, SUM_SQUARES_ADD).byteOffset;
    const { scratch, parts } = runTask(backend, sumSquaresTask, [xOffset, n], n, 8);
    total += sumParts(scratch, parts, 1)[0] as number;
  }
  heapF32(b, out, SUM_SQUARES_ADD)[0] = total;
  return out;
};

// ---------------------------------------------------------------------------
// WebGPU

const webgpuAxpby: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = asWebGpuBackend(backend, AXPBY);
  const [x, y] = axpbyInputs(inputs);
  const [ca, cb] = coefficients(attrs);
  const size = util.sizeFromShape(x.shape);
  const component = size % 4 === 0 ? 4 : 1;
  const program = flatProgram({
    shaderKey: "sgdAxpby",
    outputShape: [size],
    variableNames: ["axX", "axY"],
    component,
    uniforms: "axA : f32, axB : f32,",
    main: `
  if (index < uniforms.size) {
    setOutputAtIndex(index, uniforms.axA * axX[index] + uniforms.axB * axY[index]);
  }`,
  });
  const uniforms: ProgramUniform[] = [
    { type: "float32", data: [ca] },
    { type: "float32", data: [cb] },
  ];
  const out = b.runWebGPUProgram(
    program,
    [reshapedView(x, [size]), reshapedView(y, [size])],
    "float32",
    uniforms,
  );
  // The output's one reference, with x's shape.
  return { dataId: out.dataId, shape: [...x.shape], dtype: "float32" };
};

/** Threads per workgroup of the sum-of-squares passes. */
const SS_WORKGROUP = 256;
/** Most workgroups of the first pass (the second pass adds their partials). */
const SS_MAX_GROUPS = 512;
/** Elements per thread before another workgroup is added. */
const SS_MIN_PER_THREAD = 8;

export interface SumSquaresPlan {
  /** Elements per load: 4 (vec4) when the size is a multiple of 4. */
  component: 1 | 4;
  /** Workgroups of the first pass; 1: one pass that also adds acc. */
  groups: number;
}

/** How SUM_SQUARES_ADD splits x (n elements) on webgpu. */
export function sumSquaresPlan(n: number): SumSquaresPlan {
  const component = n > 0 && n % 4 === 0 ? 4 : 1;
  const groups = Math.min(
    SS_MAX_GROUPS,
    Math.max(1, Math.ceil(n / (SS_WORKGROUP * SS_MIN_PER_THREAD))),
  );
  return { component, groups };
}

/**
 * A pass of SUM_SQUARES_ADD: "partial" writes each workgroup's sum of
 * squares to result[workgroup]; "single" (one workgroup) writes acc + the
 * sum of squares; "merge" (one workgroup) writes acc + the sum of the
 * partials. Each thread reads a grid-strided share (coalesced loads; the
 * stride is a uniform, all threads of the dispatch), and the workgroup adds
 * its threads' sums by a tree in workgroup memory.
 */
type SumSquaresPass = "partial" | "single" | "merge";

function sumSquaresProgram(pass: SumSquaresPass, groups: number, component: 1 | 4): WebGpuProgram {
  const withAcc = pass !== "partial";
  const term = pass === "merge" ? "v" : component === 4 ? "dot(v, v)" : "v * v";
  return {
    outputShape: [withAcc ? 1 : groups],
    shaderKey: `sgdSumSquares_${pass}_c${component}`,
    dispatchLayout: { x: [0] },
    dispatch: [groups, 1, 1],
    variableNames: withAcc ? ["ssX", "ssAcc"] : ["ssX"],
    variableComponents: withAcc ? [component, 1] : [component],
    outputComponent: 1,
    uniforms: "ssCount : i32, ssStride : i32,",
    workgroupSize: [SS_WORKGROUP, 1, 1],
    getUserCode: () => `
var<workgroup> ssPart : array<f32, ${SS_WORKGROUP}>;
fn main(index : i32) {
  var s = 0.0;
  for (var i = index; i < uniforms.ssCount; i = i + uniforms.ssStride) {
    let v = ssX[i];
    s = s + ${term};
  }
  ssPart[localIndex] = s;
  for (var k = ${SS_WORKGROUP / 2}u; k > 0u; k = k >> 1u) {
    workgroupBarrier();
    if (localIndex < k) {
      ssPart[localIndex] = ssPart[localIndex] + ssPart[localIndex + k];
    }
  }
  if (localIndex == 0u) {
    result[workgroupId.x] = ssPart[0]${withAcc ? " + ssAcc[0]" : ""};
  }
}
`,
  };
}

const webgpuSumSquaresAdd: KernelFunc = ({ inputs, backend }) => {
  const b = asWebGpuBackend(backend, SUM_SQUARES_ADD);
  const [acc, x] = sumSquaresInputs(inputs);
  const n = util.sizeFromShape(x.shape);
  const accView = reshapedView(acc, [1]);
  const run = (
    pass: SumSquaresPass,
    src: TensorInfo,
    count: number,
    groups: number,
    component: 1 | 4,
  ) =>
    b.runWebGPUProgram(
      sumSquaresProgram(pass, groups, component),
      pass === "partial" ? [src] : [src, accView],
      "float32",
      [
        { type: "int32", data: [count] },
        { type: "int32", data: [groups * SS_WORKGROUP] },
      ],
    );
  const scalar = (t: TensorInfo): TensorInfo => ({ dataId: t.dataId, shape: [], dtype: "float32" });
  // An empty x binds no buffer of its own: add nothing to acc.
  if (n === 0) return scalar(run("merge", accView, 0, 1, 1));
  const { component, groups } = sumSquaresPlan(n);
  const xs = reshapedView(x, [n]);
  if (groups === 1) return scalar(run("single", xs, n / component, 1, component));
  const parts = run("partial", xs, n / component, groups, component);
  try {
    return scalar(run("merge", reshapedView(parts, [groups]), groups, 1, 1));
  } finally {
    b.disposeData(parts.dataId);
  }
};

// ---------------------------------------------------------------------------
// Configs and ops

export const cpuAxpbyConfig: KernelConfig = {
  kernelName: AXPBY,
  backendName: "cpu",
  kernelFunc: cpuAxpby,
};
export const wasmAxpbyConfig: KernelConfig = {
  kernelName: AXPBY,
  backendName: "wasm",
  kernelFunc: wasmAxpby,
};
export const webgpuAxpbyConfig: KernelConfig = {
  kernelName: AXPBY,
  backendName: "webgpu",
  kernelFunc: webgpuAxpby,
};
export const cpuSumSquaresAddConfig: KernelConfig = {
  kernelName: SUM_SQUARES_ADD,
  backendName: "cpu",
  kernelFunc: cpuSumSquaresAdd,
};
export const wasmSumSquaresAddConfig: KernelConfig = {
  kernelName: SUM_SQUARES_ADD,
  backendName: "wasm",
  kernelFunc: wasmSumSquaresAdd,
};
export const webgpuSumSquaresAddConfig: KernelConfig = {
  kernelName: SUM_SQUARES_ADD,
  backendName: "webgpu",
  kernelFunc: webgpuSumSquaresAdd,
};

/** All six configs (cpu, wasm and webgpu for each kernel). */
export const fusedUpdateKernels: KernelConfig[] = [
  cpuAxpbyConfig,
  wasmAxpbyConfig,
  webgpuAxpbyConfig,
  cpuSumSquaresAddConfig,
  wasmSumSquaresAddConfig,
  webgpuSumSquaresAddConfig,
];

/** SGD_STUDIO_FUSED_UPDATE=0 turns the kernels off (tfjs's ops run), for A/B benchmarks. */
const fusedEnabled = process.env.SGD_STUDIO_FUSED_UPDATE !== "0";

/** Whether the active backend has the kernel `name` (AXPBY or SUM_SQUARES_ADD). */
export function fusedUpdateAvailable(name: string): boolean {
  return fusedEnabled && getKernel(name, getBackend()) !== undefined;
}

const sameShape = (a: Tensor, b: Tensor): boolean =>
  a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]);

/**
 * a * x + b * y for x and y of the same shape. One kernel where the backend
 * has it; else tfjs's ops, skipping multiplications by 1.
 */
export function axpby(x: Tensor, y: Tensor, a: number, b: number): Tensor {
  if (
    x.dtype === "float32" &&
    y.dtype === "float32" &&
    sameShape(x, y) &&
    fusedUpdateAvailable(AXPBY)
  ) {
    return engine().runKernel(AXPBY, { x, y } as unknown as NamedTensorMap, { a, b }) as Tensor;
  }
  return tidy(() => add(a === 1 ? x : mul(x, a), b === 1 ? y : mul(y, b)));
}

/** acc + sum(x * x), acc a scalar. One kernel where the backend has it. */
export function sumSquaresAdd(acc: Scalar, x: Tensor): Scalar {
  if (
    acc.dtype === "float32" &&
    acc.size === 1 &&
    x.dtype === "float32" &&
    fusedUpdateAvailable(SUM_SQUARES_ADD)
  ) {
    return engine().runKernel(SUM_SQUARES_ADD, { acc, x } as unknown as NamedTensorMap) as Scalar;
  }
  return tidy(() => add(acc, sum(square(x))));
}
