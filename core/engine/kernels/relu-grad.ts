/**
 * ReLU's gradient in one pass on wasm (issue 19).
 *
 * tfjs-core's gradient is `dy * cast(step(x))`: two activation-sized
 * kernels, and on wasm both run on one thread whatever the backend's thread
 * count (Step is a JS loop in tfjs-backend-wasm; for the cnn's
 * [128,28,28,32] activation ~0.8 ms + ~1.2 ms per step). Ours, on wasm,
 * is one kernel, SgdStudioReluGrad: out = x > 0 ? dy : 0, the kernel
 * pool's reluGradTask (f32x4 WebAssembly over the backend's threads).
 * Same values as tfjs's (dy * 1 or dy * 0), except that a zero keeps no sign
 * and a NaN in x gives 0 rather than NaN. Other backends, and non-float32
 * tensors, keep tfjs's computation.
 */
import {
  cast,
  engine,
  type GradConfig,
  getBackend,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  mul,
  type NamedTensorMap,
  Relu,
  step,
  type Tensor,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { floatInput } from "./tensor-info.js";
import { runTask } from "./wasm-parallel.js";
import { reluGradTask } from "./wasm-parallel-tasks.js";
import { heapF32, type WasmBackendLike } from "./wasm-util.js";

/** dy, x (same size) -> x > 0 ? dy : 0. */
export const RELU_GRAD = "SgdStudioReluGrad";

const wasmReluGrad: KernelFunc = ({ inputs, backend: anyBackend }) => {
  const backend = anyBackend as unknown as WasmBackendLike;
  const dy = floatInput(inputs, "dy", RELU_GRAD);
  const x = floatInput(inputs, "x", RELU_GRAD);
  const n = util.sizeFromShape(x.shape);
  if (util.sizeFromShape(dy.shape) !== n) {
    throw new Error(`${RELU_GRAD}: dy and x must have the same size`);
  }
  const out = backend.makeOutput([...x.shape], "float32");
  if (n === 0) return out;
  const at = (t: TensorInfo) => heapF32(backend, t, RELU_GRAD).byteOffset;
  runTask(anyBackend, reluGradTask, [at(dy), at(x), at(out), n], n);
  return out;
};

export const wasmReluGradConfig: KernelConfig = {
  kernelName: RELU_GRAD,
  backendName: "wasm",
  kernelFunc: wasmReluGrad,
};

export const reluGradConfig: GradConfig = {
  kernelName: Relu,
  inputsToSave: ["x"],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
    const [x] = saved;
    if (!x) throw new Error("Relu gradient: the saved input x is missing");
    if (Array.isArray(dy)) throw new Error("Relu gradient: expected one dy tensor");
    const fast =
      getBackend() === "wasm" &&
      getKernel(RELU_GRAD, "wasm") !== undefined &&
      x.dtype === "float32" &&
      dy.dtype === "float32";
    return {
      x: () =>
        fast
          ? (engine().runKernel(RELU_GRAD, { dy, x } as unknown as NamedTensorMap) as Tensor)
          : mul(dy, cast(step(x), "float32")),
    };
  },
};
