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
 * activation): wasm's Tile kernel is very slow (560 ms vs 16 ms for
 * `dy * onesLike(x)`), while on the pure-JS cpu backend Tile is the fastest
 * (390 ms vs 700 ms; tfjs's default took 1.7 s). webgpu runs both on the GPU
 * (onesLike is a fill shader).
 */
import {
  backend_util,
  broadcastTo,
  div,
  type GradConfig,
  getBackend,
  Mean,
  mul,
  type NamedAttrMap,
  onesLike,
  reshape,
  scalar,
  type Tensor,
  util,
} from "@tensorflow/tfjs-core";

/** Backends whose Tile kernel beats a broadcasting multiply. */
const TILE_BACKENDS = new Set(["cpu"]);

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
        if (TILE_BACKENDS.has(getBackend())) return broadcastTo(scaled, x.shape);
        return mul(scaled, onesLike(x));
      },
    };
  },
};
