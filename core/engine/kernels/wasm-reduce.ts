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
 * accumulators, so it reads x once, in order. Everything else (axes that are
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
import { heapF32, runNative, type WasmBackendLike } from "./wasm-util.js";

/** Rows summed into local accumulators before they are added to the totals. */
const TILE_ROWS = 128;

/**
 * Adds the column sums of the [rows, inner] matrix at x[offset..] to
 * out[outOffset .. outOffset + inner): out[j] += sum_r x[offset + r*inner + j].
 */
export function addColumnSums(
  x: Float32Array,
  offset: number,
  rows: number,
  inner: number,
  out: Float64Array,
  outOffset: number,
): void {
  const quads = inner - (inner % 4);
  for (let r0 = 0; r0 < rows; r0 += TILE_ROWS) {
    const r1 = Math.min(rows, r0 + TILE_ROWS);
    for (let j = 0; j < quads; j += 4) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let r = r0, i = offset + r0 * inner + j; r < r1; r++, i += inner) {
        a0 += x[i] as number;
        a1 += x[i + 1] as number;
        a2 += x[i + 2] as number;
        a3 += x[i + 3] as number;
      }
      const o = outOffset + j;
      out[o] = (out[o] as number) + a0;
      out[o + 1] = (out[o + 1] as number) + a1;
      out[o + 2] = (out[o + 2] as number) + a2;
      out[o + 3] = (out[o + 3] as number) + a3;
    }
    for (let j = quads; j < inner; j++) {
      let a = 0;
      for (let r = r0, i = offset + r0 * inner + j; r < r1; r++, i += inner) a += x[i] as number;
      out[outOffset + j] = (out[outOffset + j] as number) + a;
    }
  }
}

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
    const xv = heapF32(backend, x, kernelName);
    const acc = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++)
      addColumnSums(xv, o * rows * inner, rows, inner, acc, o * inner);
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
