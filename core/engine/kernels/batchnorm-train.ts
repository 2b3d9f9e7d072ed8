/**
 * Batch normalisation in training as one op with one gradient (issue 9).
 *
 * Why: tfjs-layers normalises a batch with tf.moments (Mean, SquaredDifference,
 * Mean) and then FusedBatchNorm; autodiff then runs the FusedBatchNorm
 * gradient plus the gradients of moments' ops, ~55 kernels per layer and
 * step, most of them over the whole activation (a ResNet-18 step ran ~1,100
 * of its ~1,750 kernels there; on a GPU each kernel also costs ~50 us of host
 * time). Ours uses the closed form of the whole layer's gradient:
 *
 *   forward:  [mean; var] = moments(x)            one kernel (two passes)
 *             y = (x - mean) * gamma * r + beta   FusedBatchNorm, r = rsqrt(var + eps)
 *   backward: s1 = sum dy, s2 = sum dy * (x - mean)   one kernel
 *             k0..k2, dgamma = r * s2, dbeta = s1      one kernel over C
 *             dx = gamma * r * (dy - s1/N - (x - mean) * r^2 * s2/N)
 *                = dy * k0 + x * k1 + k2           one kernel
 *
 * with k0 = gamma r, k1 = -gamma r^3 s2 / N, k2 = -k0 s1 / N - k1 mean (per
 * channel, N = rows). The four kernels (MOMENTS, BATCH_NORM_GRAD_STATS,
 * BATCH_NORM_GRAD_COEF, CHANNEL_AFFINE2) exist for cpu (below, in JS with
 * float64 sums), webgpu (webgpu-batchnorm.ts) and wasm (wasm-batchnorm-train.ts:
 * on the kernel pool, the elementwise passes as SIMD WebAssembly; plain JS
 * loops had made the cnn step ~15% slower there than tfjs-layers' path,
 * bench/RESULTS.md). `batchNormTrainAvailable` says whether the active backend
 * has the four kernels; the layer (core/models/batch-norm.ts) uses tfjs's
 * own path where it has not, so those backends behave exactly as before.
 */
import {
  batchNorm,
  clone,
  customGrad,
  dispose,
  engine,
  type GradSaveFunc,
  getBackend,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  keep,
  type NamedAttrMap,
  type NamedTensorMap,
  reshape,
  slice,
  type Tensor,
  type TensorInfo,
  util,
} from "@tensorflow/tfjs-core";
import { BATCH_NORM_GRAD_STATS, batchNormGradSums } from "./batchnorm-grad.js";
import { type CpuBackendLike, cpuF32 } from "./cpu-util.js";
import { floatInput } from "./tensor-info.js";

/** x [..., C] -> [2, C]: per-channel mean and biased variance over all other axes. */
export const MOMENTS = "SgdStudioMoments";
/**
 * a, b [..., C], coef [>= 3, C] -> a * coef[0] + b * coef[1] + coef[2] per
 * channel (rows past the third are ignored).
 */
export const CHANNEL_AFFINE2 = "SgdStudioChannelAffine2";
/**
 * The backward pass's per-channel arithmetic in one kernel: stats [2, C]
 * (s1, s2), mean, variance, gamma [C]; attrs epsilon and rows -> [5, C]:
 * k0, k1, k2 (for CHANNEL_AFFINE2), dgamma, dbeta. Saves ~15 tiny kernels per
 * layer and step (on a GPU, each costs host time, not GPU time).
 */
export const BATCH_NORM_GRAD_COEF = "SgdStudioBatchNormGradCoef";

const KERNELS = [MOMENTS, BATCH_NORM_GRAD_STATS, CHANNEL_AFFINE2, BATCH_NORM_GRAD_COEF] as const;

// ---------------------------------------------------------------------------
// JS implementations (cpu backend)

/** Per-channel mean and biased variance of x viewed as [rows, c]: two passes, float64 sums. */
export function channelMoments(x: Float32Array, c: number, out: Float32Array): void {
  const rows = x.length / c;
  const sums = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let j = 0; j < c; j++) sums[j] = (sums[j] as number) + (x[i + j] as number);
  }
  const mean = sums.map((s) => s / rows);
  const sq = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let j = 0; j < c; j++) {
      const d = (x[i + j] as number) - (mean[j] as number);
      sq[j] = (sq[j] as number) + d * d;
    }
  }
  for (let j = 0; j < c; j++) {
    out[j] = mean[j] as number;
    out[c + j] = (sq[j] as number) / rows;
  }
}

/** out = a * coef[0, c] + b * coef[1, c] + coef[2, c], a and b viewed as [rows, c]. */
export function channelAffine2(
  a: Float32Array,
  b: Float32Array,
  coef: Float32Array,
  c: number,
  out: Float32Array,
): void {
  const k0 = coef.subarray(0, c);
  const k1 = coef.subarray(c, 2 * c);
  const k2 = coef.subarray(2 * c, 3 * c);
  for (let i = 0; i < a.length; i += c) {
    for (let j = 0; j < c; j++) {
      out[i + j] =
        (a[i + j] as number) * (k0[j] as number) +
        (b[i + j] as number) * (k1[j] as number) +
        (k2[j] as number);
    }
  }
}

/**
 * k0 = gamma r, k1 = -k0 r^2 s2 / rows, k2 = -k0 s1 / rows - k1 mean,
 * dgamma = r s2, dbeta = s1, with r = 1 / sqrt(variance + epsilon); out [5, c].
 */
export function batchNormGradCoef(
  stats: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  gamma: Float32Array,
  epsilon: number,
  rows: number,
  out: Float32Array,
): void {
  const c = mean.length;
  for (let j = 0; j < c; j++) {
    const s1 = stats[j] as number;
    const s2 = stats[c + j] as number;
    const r = 1 / Math.sqrt((variance[j] as number) + epsilon);
    const k0 = (gamma[j] as number) * r;
    const k1 = (-k0 * r * r * s2) / rows;
    out[j] = k0;
    out[c + j] = k1;
    out[2 * c + j] = (-k0 * s1) / rows - k1 * (mean[j] as number);
    out[3 * c + j] = r * s2;
    out[4 * c + j] = s1;
  }
}

function channels(t: TensorInfo): number {
  return t.shape[t.shape.length - 1] as number;
}

/** A cpu-backend kernel computing `compute(views, out)` over float32 arrays. */
function cpuKernel(
  name: string,
  inputNames: string[],
  outShape: (inputs: TensorInfo[]) => number[],
  compute: (views: Float32Array[], out: Float32Array, c: number, attrs: NamedAttrMap) => void,
): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const b = backend as unknown as CpuBackendLike;
    const ts = inputNames.map((n) => floatInput(inputs, n, name));
    const shape = outShape(ts);
    const out = new Float32Array(util.sizeFromShape(shape));
    compute(
      ts.map((t) => cpuF32(b, t, name)),
      out,
      channels(ts[0] as TensorInfo),
      attrs ?? {},
    );
    return b.makeTensorInfo(shape, "float32", out);
  };
  return { kernelName: name, backendName: "cpu", kernelFunc };
}

const moments = cpuKernel(
  MOMENTS,
  ["x"],
  (ts) => [2, channels(ts[0] as TensorInfo)],
  ([x], out, c) => channelMoments(x as Float32Array, c, out),
);

const affine2 = cpuKernel(
  CHANNEL_AFFINE2,
  ["a", "b", "coef"],
  (ts) => [...(ts[0] as TensorInfo).shape],
  ([a, b, coef], out, c) =>
    channelAffine2(a as Float32Array, b as Float32Array, coef as Float32Array, c, out),
);

const gradStatsCpu = cpuKernel(
  BATCH_NORM_GRAD_STATS,
  ["x", "dy", "mean"],
  (ts) => [2, channels(ts[0] as TensorInfo)],
  ([x, dy, mean], out, c) => {
    const s1 = new Float64Array(c);
    const s2 = new Float64Array(c);
    batchNormGradSums(x as Float32Array, dy as Float32Array, mean as Float32Array, c, s1, s2);
    out.set(s1, 0);
    out.set(s2, c);
  },
);

const gradCoef = cpuKernel(
  BATCH_NORM_GRAD_COEF,
  ["stats", "mean", "variance", "gamma"],
  (ts) => [5, channels(ts[1] as TensorInfo)],
  ([stats, mean, variance, gamma], out, _c, attrs) => {
    const { epsilon, rows } = attrs as unknown as { epsilon: number; rows: number };
    batchNormGradCoef(
      stats as Float32Array,
      mean as Float32Array,
      variance as Float32Array,
      gamma as Float32Array,
      epsilon,
      rows,
      out,
    );
  },
);

export const cpuMomentsConfig = moments;
export const cpuBatchNormGradCoefConfig = gradCoef;
export const cpuChannelAffine2Config = affine2;
export const cpuBatchNormGradStatsConfig = gradStatsCpu;

// ---------------------------------------------------------------------------
// The op

/**
 * SGD_STUDIO_FUSED_BATCH_NORM=0 turns the fused path off (tfjs-layers' own
 * code runs), for A/B benchmarks.
 */
const fusedEnabled = process.env.SGD_STUDIO_FUSED_BATCH_NORM !== "0";

/** Whether the active backend has the three kernels and x suits them. */
export function batchNormTrainAvailable(x: Tensor): boolean {
  const backend = getBackend();
  return (
    fusedEnabled &&
    x.rank >= 2 &&
    x.dtype === "float32" &&
    KERNELS.every((k) => getKernel(k, backend) !== undefined)
  );
}

function run(name: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap = {}): Tensor {
  return engine().runKernel(name, inputs as unknown as NamedTensorMap, attrs) as Tensor;
}

export interface BatchNormTrainResult {
  y: Tensor;
  /** Per-channel batch mean [C] (for the moving average; carries no gradient). */
  mean: Tensor;
  /** Per-channel biased batch variance [C] (likewise). */
  variance: Tensor;
}

/**
 * Normalises x [..., C] over all but the last axis with the batch's own
 * statistics, then scales by gamma and shifts by beta (both [C]). Gradients
 * flow to x, gamma and beta (through the closed form above). Check
 * `batchNormTrainAvailable(x)` first.
 */
export function batchNormTrain(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  epsilon: number,
): BatchNormTrainResult {
  const c = x.shape[x.rank - 1] as number;
  const rows = x.size / c;
  const batchStats: { mean?: Tensor; variance?: Tensor } = {};
  const op = customGrad((...args: (Tensor | GradSaveFunc)[]) => {
    const [xi, g, b] = args as [Tensor, Tensor, Tensor];
    const save = args[3] as GradSaveFunc;
    const stats = run(MOMENTS, { x: xi });
    const m = reshape(slice(stats, [0, 0], [1, c]), [c]);
    const v = reshape(slice(stats, [1, 0], [1, c]), [c]);
    // The engine runs this forward pass in a tidy of its own: keep the
    // statistics past it (they are handed back below as ordinary tensors).
    batchStats.mean = keep(m);
    batchStats.variance = keep(v);
    const y = batchNorm(xi, m, v, b, g, epsilon);
    save([xi, m, v, g]);
    return {
      value: y,
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
        const d = dy as Tensor;
        const [sx, sm, sv, sg] = saved as [Tensor, Tensor, Tensor, Tensor];
        const s = run(BATCH_NORM_GRAD_STATS, { x: sx, dy: d, mean: sm });
        const coef = run(
          BATCH_NORM_GRAD_COEF,
          { stats: s, mean: sm, variance: sv, gamma: sg },
          { epsilon, rows },
        );
        const dx = run(CHANNEL_AFFINE2, { a: d, b: sx, coef });
        const dgamma = reshape(slice(coef, [3, 0], [1, c]), [c]);
        const dbeta = reshape(slice(coef, [4, 0], [1, c]), [c]);
        return [dx, dgamma, dbeta];
      },
    };
  });
  const y = op(x, gamma, beta);
  const kept = [batchStats.mean, batchStats.variance].filter((t): t is Tensor => t !== undefined);
  if (kept.length !== 2) throw new Error("batchNormTrain: the forward pass did not run");
  // Clones belong to the caller's scope (a tidy frees them); the kept ones go now.
  const [m, v] = kept.map((t) => clone(t)) as [Tensor, Tensor];
  dispose(kept);
  return { y, mean: m, variance: v };
}

/** The cpu kernels (webgpu's are in webgpu-batchnorm.ts). */
export const cpuBatchNormTrainKernels: KernelConfig[] = [
  cpuMomentsConfig,
  cpuBatchNormGradStatsConfig,
  cpuBatchNormGradCoefConfig,
  cpuChannelAffine2Config,
];
