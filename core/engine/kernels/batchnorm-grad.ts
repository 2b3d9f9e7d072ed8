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
} from "@tensorflow/tfjs-core";
import { heapF32, type WasmBackendLike } from "./wasm-util.js";

/** Name of the wasm kernel that computes the per-channel sums. */
export const BATCH_NORM_GRAD_STATS = "SgdStudioBatchNormGradStats";

/** Rows summed into local accumulators before they are added to the totals. */
const TILE_ROWS = 128;

/**
 * s1[j] += sum_r dy[r, j], s2[j] += sum_r dy[r, j] * (x[r, j] - mean[j]) over
 * the rows of x and dy viewed as [rows, c]. Tiles of rows, four channels at a
 * time in local (float64) accumulators: ~3x faster than a plain loop that
 * updates s1/s2 in place.
 */
export function batchNormGradSums(
  x: Float32Array,
  dy: Float32Array,
  mean: Float32Array,
  c: number,
  s1: Float64Array,
  s2: Float64Array,
): void {
  const rows = x.length / c;
  const quads = c - (c % 4);
  for (let r0 = 0; r0 < rows; r0 += TILE_ROWS) {
    const r1 = Math.min(rows, r0 + TILE_ROWS);
    for (let j = 0; j < quads; j += 4) {
      const m0 = mean[j] as number;
      const m1 = mean[j + 1] as number;
      const m2 = mean[j + 2] as number;
      const m3 = mean[j + 3] as number;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let r = r0, i = r0 * c + j; r < r1; r++, i += c) {
        const d0 = dy[i] as number;
        const d1 = dy[i + 1] as number;
        const d2 = dy[i + 2] as number;
        const d3 = dy[i + 3] as number;
        a0 += d0;
        a1 += d1;
        a2 += d2;
        a3 += d3;
        b0 += d0 * ((x[i] as number) - m0);
        b1 += d1 * ((x[i + 1] as number) - m1);
        b2 += d2 * ((x[i + 2] as number) - m2);
        b3 += d3 * ((x[i + 3] as number) - m3);
      }
      s1[j] = (s1[j] as number) + a0;
      s1[j + 1] = (s1[j + 1] as number) + a1;
      s1[j + 2] = (s1[j + 2] as number) + a2;
      s1[j + 3] = (s1[j + 3] as number) + a3;
      s2[j] = (s2[j] as number) + b0;
      s2[j + 1] = (s2[j + 1] as number) + b1;
      s2[j + 2] = (s2[j + 2] as number) + b2;
      s2[j + 3] = (s2[j + 3] as number) + b3;
    }
    for (let j = quads; j < c; j++) {
      const m = mean[j] as number;
      let a = 0;
      let b = 0;
      for (let r = r0, i = r0 * c + j; r < r1; r++, i += c) {
        const d = dy[i] as number;
        a += d;
        b += d * ((x[i] as number) - m);
      }
      s1[j] = (s1[j] as number) + a;
      s2[j] = (s2[j] as number) + b;
    }
  }
}

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
  const xv = heapF32(backend, x, BATCH_NORM_GRAD_STATS);
  const dv = heapF32(backend, dy, BATCH_NORM_GRAD_STATS);
  const mv = heapF32(backend, mean, BATCH_NORM_GRAD_STATS);
  const ov = heapF32(backend, out, BATCH_NORM_GRAD_STATS);
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  batchNormGradSums(xv, dv, mv, c, s1, s2);
  ov.set(s1, 0);
  ov.set(s2, c);
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
