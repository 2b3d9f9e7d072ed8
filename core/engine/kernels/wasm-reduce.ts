/**
 * Sum and Mean over leading (or any contiguous run of) axes for the wasm
 * backend.
 *
 * Why: tfjs-backend-wasm 4.22 reduces only over the innermost axes; for any
 * other axes it first transposes the whole input (a slow generic transpose)
 * and then reduces. Batch norm reduces an NHWC activation over [0, 1, 2] in
 * the forward pass (moments: two Means) and the backward pass (the Sub and
 * bias gradients: Sums), and a global average pool reduces over [1, 2]: for
 * the cnn's [128,28,28,32] activation that is ~20 ms per call against ~3 ms
 * here.
 *
 * Ours views x as [outer, rows, inner] (the reduced axes are the middle,
 * contiguous block) and sums the rows in cache-sized tiles with float64
 * accumulators, so it reads x once, in order; with the threaded backend,
 * row ranges on the kernel pool's threads, their sums added in order. Everything else (axes that are
 * not one contiguous block, innermost-only reductions that wasm already does
 * well, non-float32) goes to the backend's own kernel.
 */
import {
  backend_util,
  type KernelConfig,
  type KernelFunc,
  Mean,
  Sum,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { runTask, sumParts } from "./wasm-parallel.js";
import { columnSumsTask } from "./wasm-parallel-tasks.js";
import { heapF32, runNative, type WasmBackendLike } from "./wasm-util.js";

export { addColumnSums } from "./wasm-parallel-tasks.js";

/**
 * If `axes` (of a tensor of `shape`) are one contiguous block that is not
 * innermost, the [outer, rows, inner] view; else null.
 */
export function middleBlock(
  shape: readonly number[],
  axes: readonly number[],
): { outer: number; rows: number; inner: number } | null {
  if (axes.length === 0) return null;
  const sorted = [...axes].sort((a, b) => a - b);
  const first = sorted[0] as number;
  const last = sorted[sorted.length - 1] as number;
  if (last - first + 1 !== sorted.length) return null; // not contiguous
  if (last === shape.length - 1) return null; // innermost: wasm's own kernel is fine
  const size = (from: number, to: number) => util.sizeFromShape(shape.slice(from, to));
  return {
    outer: size(0, first),
    rows: size(first, last + 1),
    inner: size(last + 1, shape.length),
  };
}

function reduce(kernelName: "Sum" | "Mean"): KernelFunc {
  return (args) => {
    const { inputs, backend: anyBackend, attrs } = args;
    const backend = anyBackend as unknown as WasmBackendLike;
    const x = inputs.x as TensorInfo;
    const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const axes = util.parseAxisParam(axis, x.shape);
    const block = x.dtype === "float32" ? middleBlock(x.shape, axes) : null;
    if (!block || block.rows === 0) return runNative(kernelName, args);
    const { outer, rows, inner } = block;
    const [outShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
    const shape = keepDims ? backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
    const out = backend.makeOutput(shape, "float32");
    // Parts over rows (on the kernel pool's threads), each summing into its
    // own float64 slot of the scratch; the slots are added in part order.
    const xOffset = heapF32(backend, x, kernelName).byteOffset;
    const length = outer * inner;
    const { scratch, parts } = runTask(
      anyBackend,
      columnSumsTask,
      [xOffset, outer, rows, inner],
      outer * rows * inner,
      length * 8,
    );
    const acc = sumParts(scratch, parts, length);
    if (kernelName === "Mean")
      for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) / rows;
    heapF32(backend, out, kernelName).set(acc);
    return out;
  };
}

export const wasmSumConfig: KernelConfig = {
  kernelName: Sum,
  backendName: "wasm",
  kernelFunc: reduce("Sum"),
};

export const wasmMeanConfig: KernelConfig = {
  kernelName: Mean,
  backendName: "wasm",
  kernelFunc: reduce("Mean"),
};
