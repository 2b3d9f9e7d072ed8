/**
 * Tile for the wasm backend, by block copies.
 *
 * Why: tfjs-backend-wasm 4.22's Tile computes the source index of every
 * output element separately: ~330 ms to tile a [1,1,1,32] vector to the
 * cnn's [128,28,28,32] activation (tf.broadcastTo and tfjs's own batch-norm
 * gradient use it). Ours writes the first copy of each innermost row and
 * then doubles blocks with copyWithin (a memmove), so the cost is about that
 * of writing the output once: ~2 ms there.
 *
 * Handed back to the backend's own kernel: strings.
 */
import {
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  Tile,
  type TileAttrs,
  util,
} from "@tensorflow/tfjs-core";
import { runNative, type WasmBackendLike } from "./wasm-util.js";

type Flat = Float32Array | Int32Array | Uint8Array;

/** Fills `out` (shape[i] * reps[i] along every axis) with `x` tiled. */
export function tileInto(
  x: Flat,
  shape: readonly number[],
  reps: readonly number[],
  out: Flat,
): void {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = x[0] as number;
    return;
  }
  // inStride[d]: elements of x per index of axis d; outStride[d] likewise for out.
  const inStride = new Array<number>(rank).fill(1);
  const outStride = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) {
    inStride[d] = (inStride[d + 1] as number) * (shape[d + 1] as number);
    outStride[d] =
      (outStride[d + 1] as number) * (shape[d + 1] as number) * (reps[d + 1] as number);
  }
  /** Writes x's sub-block at `src` (axes d..) tiled, at out[dst..]. */
  const fill = (d: number, src: number, dst: number): void => {
    const n = shape[d] as number;
    if (d === rank - 1) {
      for (let i = 0; i < n; i++) out[dst + i] = x[src + i] as number;
    } else {
      for (let i = 0; i < n; i++) {
        fill(d + 1, src + i * (inStride[d] as number), dst + i * (outStride[d] as number));
      }
    }
    // Repeat the first copy along axis d, doubling the copied span each time.
    const block = n * (d === rank - 1 ? 1 : (outStride[d] as number));
    const total = block * (reps[d] as number);
    for (let done = block; done < total; ) {
      const len = Math.min(done, total - done);
      out.copyWithin(dst + done, dst, dst + len);
      done += len;
    }
  };
  fill(0, 0, 0);
}

export const wasmTile: KernelFunc = (args) => {
  const { inputs, backend: anyBackend, attrs } = args;
  const backend = anyBackend as unknown as WasmBackendLike;
  const x = inputs.x as TensorInfo;
  if (x.dtype === "string") return runNative(Tile, args);
  const { reps } = attrs as unknown as TileAttrs;
  if (reps.length !== x.shape.length) return runNative(Tile, args);
  const outShape = x.shape.map((s, i) => s * (reps[i] as number));
  const out = backend.makeOutput(outShape, x.dtype as "float32");
  if (util.sizeFromShape(outShape) === 0) return out;
  tileInto(backend.typedArrayFromHeap(x), x.shape, reps, backend.typedArrayFromHeap(out));
  return out;
};

export const wasmTileConfig: KernelConfig = {
  kernelName: Tile,
  backendName: "wasm",
  kernelFunc: wasmTile,
};
