/**
 * Gradient of `Mean` that stays on the device.
 *
 * tfjs-core's own gradient (gradients/Mean_grad.js) computes
 * `reshape(dy) * ones(x.shape) / n`; `ones(x.shape)` is built as a JS typed
 * array of the activation's full size on the host and uploaded every step.
 * Batch norm calls `Mean` (through `moments`) for each layer, so on WebGPU
 * this is a large host->device copy per layer per step.
 *
 * Here dy is scaled first (it has the reduced, small shape) and then
 * broadcast to x's shape on the device. Same values, no host-side arrays.
 * How to broadcast is chosen per backend from measurements (a [128,28,28,32]
 * activation): on the pure-JS cpu backend Tile is the fastest (390 ms vs
 * 700 ms for `dy * onesLike(x)`; tfjs's default took 1.7 s). wasm's own Tile
 * kernel is very slow (560 ms vs 16 ms), but with our Tile override
 * (wasm-tile.ts) in place it is the fastest there too (~0.7 ms vs ~4.6 ms),
 * so wasm uses Tile exactly when that override is registered. webgpu runs
 * `dy * onesLike(x)` on the GPU (onesLike is a fill shader).
 */
import {
  backend_util,
  broadcastTo,
  div,
  type GradConfig,
  getBackend,
  getKernel,
  Mean,
  mul,
  type NamedAttrMap,
  onesLike,
  reshape,
  scalar,
  type Tensor,
  util,
} from "@tensorflow/tfjs-core";
import { wasmTile } from "./wasm-tile.js";

/** Whether the active backend's Tile kernel beats a broadcasting multiply. */
function tileIsFast(backend: string): boolean {
  if (backend === "cpu") return true;
  if (backend === "wasm") return getKernel("Tile", "wasm")?.kernelFunc === wasmTile;
  return false;
}

export const deviceMeanGradConfig: GradConfig = {
  kernelName: Mean,
  inputsToSave: ["x"],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x] = saved;
    if (!x) throw new Error("Mean gradient: the saved input x is missing");
    if (Array.isArray(dy)) throw new Error("Mean gradient: expected one dy tensor");
    const { axis } = attrs as unknown as { axis: number | number[] };
    const axes = util.parseAxisParam(axis, x.shape);
    const [, reduceShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
    const reduceSize = util.sizeFromShape(reduceShape);
    return {
      x: () => {
        const expandedShape = x.shape.slice();
        for (const a of axes) expandedShape[a] = 1;
        const scaled = div(reshape(dy, expandedShape), scalar(reduceSize, "float32"));
        if (tileIsFast(getBackend())) return broadcastTo(scaled, x.shape);
        return mul(scaled, onesLike(x));
      },
    };
  },
};
