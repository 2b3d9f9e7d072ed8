/**
 * Gradient of `FusedBatchNorm` without full-size broadcasts of per-channel
 * values (wasm).
 *
 * Why: tfjs-core's gradient (gradients/FusedBatchNorm_grad.js) tiles
 * rsqrt(variance + eps) to the activation's full shape for dx (wasm's Tile
 * kernel is very slow: ~330 ms for the cnn's [128,28,28,32] activation, more
 * than the rest of the layer's backward pass), and computes the mean,
 * variance and scale gradients from several activation-sized temporaries
 * (x - mean, dy * scale, products of those) followed by slow leading-axis
 * sums.
 *
 * Ours, on wasm, with per-channel statistics (mean of rank 1, as tfjs-layers'
 * BatchNormalization passes in training): one pass over x and dy (the wasm
 * kernel below, SgdStudioBatchNormGradStats) gives, per channel c,
 *
 *   s1[c] = sum dy,   s2[c] = sum dy * (x - mean[c])
 *
 * accumulated in float64, and then, with r = rsqrt(variance + eps):
 *
 *   dx = dy * (scale * r)          one broadcasting multiply
 *   dmean = -scale * r * s1        doffset = s1
 *   dvariance = -scale * r^3 * s2 / 2
 *   dscale = r * s2
 *
 * the same quantities as tfjs's gradient. On every other backend, and for
 * other shapes (broadcast rank-4 statistics, non-float32), tfjs's own
 * computation runs unchanged (a transcription of it is below), so cpu and
 * webgpu behave exactly as before.
 */
import {
  add,
  backend_util,
  engine,
  FusedBatchNorm,
  type GradConfig,
  getBackend,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  mul,
  type NamedAttrMap,
  type NamedTensorMap,
  neg,
  reshape,
  rsqrt,
  scalar,
  slice,
  sub,
  sum,
  type Tensor,
  type TensorInfo,
  tile,
  util,
} from "@tensorflow/tfjs-core";
import { runTask, sumParts } from "./wasm-parallel.js";
import { batchNormGradSumsTask } from "./wasm-parallel-tasks.js";
import { heapF32, type WasmBackendLike } from "./wasm-util.js";

/** Name of the wasm kernel that computes the per-channel sums. */
export const BATCH_NORM_GRAD_STATS = "SgdStudioBatchNormGradStats";

export { batchNormGradSums } from "./wasm-parallel-tasks.js";

/**
 * x [..., C], dy like x, mean [C] -> [2, C]: row 0 sum(dy), row 1
 * sum(dy * (x - mean)), over all but the last axis.
 */
export const wasmBatchNormGradStats: KernelFunc = ({ inputs, backend: anyBackend }) => {
  const backend = anyBackend as unknown as WasmBackendLike;
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const mean = inputs.mean as TensorInfo;
  const c = x.shape[x.shape.length - 1] as number;
  const out = backend.makeOutput([2, c], "float32");
  const at = (t: TensorInfo) => heapF32(backend, t, BATCH_NORM_GRAD_STATS).byteOffset;
  const rows = c > 0 ? util.sizeFromShape(x.shape) / c : 0;
  // Parts over rows (on the kernel pool's threads), each writing [s1, s2] of
  // its rows into its float64 slot of the scratch; added in part order.
  const { scratch, parts } = runTask(
    anyBackend,
    batchNormGradSumsTask,
    [at(x), at(dy), at(mean), rows, c],
    rows * c,
    2 * c * 8,
  );
  heapF32(backend, out, BATCH_NORM_GRAD_STATS).set(sumParts(scratch, parts, 2 * c));
  return out;
};

export const wasmBatchNormGradStatsConfig: KernelConfig = {
  kernelName: BATCH_NORM_GRAD_STATS,
  backendName: "wasm",
  kernelFunc: wasmBatchNormGradStats,
};

type Grads = Record<string, () => Tensor>;

/** tfjs-core 4.22's own FusedBatchNorm gradient, transcribed (used off wasm). */
function tfjsBatchNormGrads(
  dy: Tensor,
  x: Tensor,
  mean: Tensor,
  variance: Tensor,
  scale: Tensor | undefined,
  varianceEpsilon: number,
): Grads {
  const scaleValue = scale == null ? scalar(1) : scale;
  const reductionAxes = backend_util.getReductionAxes(mean.shape, x.shape);
  const tileShape: number[] = [];
  if (mean.rank === 1) {
    for (let i = 0; i < x.shape.length - 1; ++i) tileShape.push(x.shape[i] as number);
    tileShape.push(1);
  }
  const xMinusMean = sub(x, mean);
  const dyTimesScaleValue = mul(dy, scaleValue);
  const oneOverSqrtVariance = rsqrt(add(variance, scalar(varianceEpsilon)));
  const minusHalfRCube = mul(
    mul(mul(oneOverSqrtVariance, oneOverSqrtVariance), oneOverSqrtVariance),
    scalar(-0.5),
  );
  return {
    x: () => {
      if (mean.rank === 1) {
        return reshape(
          mul(
            mul(
              dy,
              tile(reshape(oneOverSqrtVariance, [1, 1, 1, mean.shape[0] as number]), tileShape),
            ),
            scaleValue,
          ),
          x.shape,
        );
      }
      return reshape(mul(mul(dy, oneOverSqrtVariance), scaleValue), x.shape);
    },
    mean: () => {
      let meanDer = mul(mul(oneOverSqrtVariance, scalar(-1)), dyTimesScaleValue);
      if (mean.rank === 1) meanDer = sum(meanDer, reductionAxes);
      return reshape(meanDer, mean.shape);
    },
    variance: () => {
      let varianceDer = mul(mul(minusHalfRCube, xMinusMean), dyTimesScaleValue);
      if (mean.rank === 1) varianceDer = sum(varianceDer, reductionAxes);
      return reshape(varianceDer, mean.shape);
    },
    scale: () => {
      const xMinusMean2TimesRsqrt = mul(xMinusMean, oneOverSqrtVariance);
      let scaleDer = mul(dy, xMinusMean2TimesRsqrt);
      if (mean.rank === 1) scaleDer = sum(scaleDer, reductionAxes);
      return reshape(scaleDer, mean.shape);
    },
    offset: () => {
      let offsetDer = dy;
      if (mean.rank === 1) offsetDer = sum(offsetDer, reductionAxes);
      return reshape(offsetDer, mean.shape);
    },
  };
}

/** Whether the one-pass wasm gradient applies. */
function wasmFastPath(
  dy: Tensor,
  x: Tensor,
  mean: Tensor,
  variance: Tensor,
  scale: Tensor | undefined,
): boolean {
  if (getBackend() !== "wasm" || !getKernel(BATCH_NORM_GRAD_STATS, "wasm")) return false;
  const c = x.shape[x.rank - 1];
  const perChannel = (t: Tensor) => t.rank === 1 && t.shape[0] === c;
  return (
    x.rank >= 2 &&
    x.dtype === "float32" &&
    dy.dtype === "float32" &&
    mean.dtype === "float32" &&
    perChannel(mean) &&
    perChannel(variance) &&
    (scale == null || perChannel(scale))
  );
}

function wasmBatchNormGrads(
  dy: Tensor,
  x: Tensor,
  mean: Tensor,
  variance: Tensor,
  scale: Tensor | undefined,
  varianceEpsilon: number,
): Grads {
  const c = mean.shape[0] as number;
  // Small [C]-sized tensors, created in the backward pass's scope (as
  // tfjs's own gradient creates its temporaries) and freed with it.
  const stats = engine().runKernel(
    BATCH_NORM_GRAD_STATS,
    { x, dy, mean } as unknown as NamedTensorMap,
    {},
  ) as Tensor;
  const s1 = reshape(slice(stats, [0, 0], [1, c]), [c]);
  const s2 = reshape(slice(stats, [1, 0], [1, c]), [c]);
  const r = rsqrt(add(variance, scalar(varianceEpsilon)));
  const scaleR = scale == null ? r : mul(scale, r);
  return {
    x: () => mul(dy, scaleR),
    mean: () => neg(mul(scaleR, s1)),
    variance: () => mul(mul(scaleR, mul(r, r)), mul(s2, scalar(-0.5))),
    scale: () => mul(r, s2),
    offset: () => reshape(s1, mean.shape),
  };
}

export const batchNormGradConfig: GradConfig = {
  kernelName: FusedBatchNorm,
  inputsToSave: ["x", "mean", "variance", "scale"],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    if (Array.isArray(dy)) throw new Error("FusedBatchNorm gradient: expected one dy tensor");
    const [x, mean, variance, scale] = saved;
    if (!x || !mean || !variance) {
      throw new Error("FusedBatchNorm gradient: saved inputs x, mean, variance are missing");
    }
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const grads = wasmFastPath(dy, x, mean, variance, scale)
      ? wasmBatchNormGrads(dy, x, mean, variance, scale, varianceEpsilon)
      : tfjsBatchNormGrads(dy, x, mean, variance, scale, varianceEpsilon);
    return grads;
  },
};
