/**
 * WebGPU kernels for the fused batch-norm training op
 * (core/engine/kernels/batchnorm-train.ts): per-channel moments, the
 * gradient's per-channel sums, and a two-input per-channel affine map.
 *
 * Why: with tfjs's own ops a batch-norm layer costs ~50 small kernels per
 * training step (tf.moments with its transposes and casts, the
 * FusedBatchNorm gradient's activation-sized temporaries and leading-axis
 * sums, the moments' own gradients). On a real GPU each tfjs kernel costs
 * ~50 us of host time, and ResNet-18 has 20 batch-norm layers. These three
 * kernels read the activations once per use and take at most two dispatches
 * each:
 *
 *   SgdStudioMoments             x [..., C] -> [2, C]: mean, biased variance
 *   SgdStudioBatchNormGradStats  x, dy [..., C], mean [C] -> [2, C]:
 *                                sum dy, sum dy * (x - mean)
 *   SgdStudioChannelAffine2      a, b [..., C], coef [3, C] -> like a:
 *                                a * coef[0] + b * coef[1] + coef[2]
 *
 * Layout of the reductions (x viewed as [R, C], R = size / C rows): one
 * workgroup of 256 threads per (block of CB channels, group of rows), CB =
 * min(64, C rounded up to a power of two). Thread t handles channel
 * block * CB + t % CB and rows start + t / CB, start + t / CB + 256 / CB, ...
 * of its row group, so consecutive threads read consecutive channels of a
 * row (coalesced). The 256 / CB lanes of a channel are combined by a tree in
 * workgroup memory. With G > 1 row groups (chosen for a few hundred
 * workgroups on big inputs), the workgroups write partials [G, 2, C] and a
 * second dispatch (one workgroup per channel block, the same lane layout
 * over the G partials) combines them; with G = 1 the first dispatch writes
 * the result. The partials are disposed before the kernel returns.
 *
 * Moments are numerically sound: they are computed for x - x[0, c] (a
 * per-channel shift by the first row, exact for values near each other, so a
 * large common offset such as 1000 + N(0, 1) does not cost the variance its
 * precision), each thread runs Welford's update over its rows (count, mean,
 * sum of squared deviations), and the tree and the second pass merge those
 * triples with Chan et al.'s pairwise formula: no E[x^2] - E[x]^2
 * cancellation.
 *
 * The configs are not registered here: core/engine/kernels/index.ts does.
 */
import { type KernelConfig, type KernelFunc, type TensorInfo, util } from "@tensorflow/tfjs-core";
import { BATCH_NORM_GRAD_STATS } from "./batchnorm-grad.js";
// The kernel names are the op's (batchnorm-train.ts), which also has the cpu versions.
import { BATCH_NORM_GRAD_COEF, CHANNEL_AFFINE2, MOMENTS } from "./batchnorm-train.js";
import { floatInput, reshapedView } from "./tensor-info.js";
import {
  asWebGpuBackend,
  type ProgramUniform,
  type WebGpuBackendLike,
  type WebGpuProgram,
} from "./webgpu-program.js";

export { BATCH_NORM_GRAD_COEF, BATCH_NORM_GRAD_STATS, CHANNEL_AFFINE2, MOMENTS };

/** Threads per reduction workgroup (WebGPU's guaranteed maximum). */
const WORKGROUP = 256;
/** Largest channel block of a reduction workgroup. */
const MAX_CHANNEL_BLOCK = 64;
/** Aim for about this many workgroups in a reduction's first pass. */
const TARGET_WORKGROUPS = 512;
/** ... but give every thread at least this many rows. */
const MIN_ROWS_PER_THREAD = 8;
/** Threads per workgroup of the elementwise affine map. */
const AFFINE_WORKGROUP = 128;

type ReduceMode = "moments" | "momentsMerge" | "gradStats" | "sumMerge";

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** How a reduction over [rows, channels] is split into workgroups. */
export interface ReducePlan {
  rows: number;
  channels: number;
  /** Channels per workgroup (a power of two, <= 64). */
  channelBlock: number;
  /** Threads per channel in a workgroup (256 / channelBlock). */
  lanes: number;
  channelBlocks: number;
  /** Row groups (first-pass workgroups per channel block). */
  groups: number;
  rowsPerGroup: number;
}

/** The workgroup layout used for a [rows, channels] reduction. */
export function reducePlan(rows: number, channels: number): ReducePlan {
  const channelBlock = Math.min(MAX_CHANNEL_BLOCK, nextPow2(channels));
  const lanes = WORKGROUP / channelBlock;
  const channelBlocks = Math.ceil(channels / channelBlock);
  const byWork = Math.ceil(rows / (lanes * MIN_ROWS_PER_THREAD));
  const wanted = Math.max(1, Math.min(Math.ceil(TARGET_WORKGROUPS / channelBlocks), byWork));
  const rowsPerGroup = Math.max(1, Math.ceil(rows / wanted));
  const groups = Math.max(1, Math.ceil(rows / rowsPerGroup));
  return { rows, channels, channelBlock, lanes, channelBlocks, groups, rowsPerGroup };
}

/**
 * One pass of a per-channel reduction. "moments" / "gradStats" read the
 * activations (dispatch [channel blocks, G]); "momentsMerge" / "sumMerge"
 * combine the first pass's partials (dispatch [channel blocks, 1]). A first
 * pass with G = 1 ("final") writes [2, C] itself.
 */
class BatchNormReduceProgram implements WebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0], y: [1] };
  dispatch: [number, number, number];
  variableNames: string[];
  uniforms = "bnRows : i32, bnChannels : i32, bnRowsPerGroup : i32, bnGroups : i32,";
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  private readonly mode: ReduceMode;
  private readonly final: boolean;
  private readonly plan: ReducePlan;

  constructor(mode: ReduceMode, plan: ReducePlan) {
    this.mode = mode;
    this.plan = plan;
    const firstPass = mode === "moments" || mode === "gradStats";
    this.final = !firstPass || plan.groups === 1;
    this.outputShape = this.final ? [2, plan.channels] : [plan.groups, 2, plan.channels];
    this.variableNames =
      mode === "gradStats"
        ? ["xs", "dys", "means"]
        : mode === "moments"
          ? ["xs"]
          : mode === "momentsMerge"
            ? ["parts", "xs"]
            : ["parts"];
    this.dispatch = [plan.channelBlocks, firstPass ? plan.groups : 1, 1];
    this.shaderKey = `sgdBatchNorm_${mode}_${this.final ? "final" : "partial"}_${plan.channelBlock}`;
  }

  /** Uniform values, in the order of `uniforms`. */
  uniformData(): ProgramUniform[] {
    const p = this.plan;
    // One entry per scalar: tfjs aligns a multi-value entry as a vector.
    return [p.rows, p.channels, p.rowsPerGroup, p.groups].map((v) => ({
      type: "int32",
      data: [v],
    }));
  }

  getUserCode(): string {
    const welford = this.mode === "moments" || this.mode === "momentsMerge";
    const shared = `
      const BN_CB : u32 = ${this.plan.channelBlock}u;
      const BN_LANES : i32 = ${this.plan.lanes};
      var<workgroup> bnA : array<f32, ${WORKGROUP}>;
      var<workgroup> bnB : array<f32, ${WORKGROUP}>;
      ${welford ? `var<workgroup> bnN : array<f32, ${WORKGROUP}>;` : ""}
    `;
    // Merges slot j into slot i: Chan's formula for (count, mean, M2), or sums.
    const combine = welford
      ? `
      fn bnCombine(i : u32, j : u32) {
        let nb = bnN[j];
        if (nb > 0.0) {
          let na = bnN[i];
          let n = na + nb;
          let d = bnA[j] - bnA[i];
          let f = nb / n;
          bnA[i] = bnA[i] + d * f;
          bnB[i] = bnB[i] + bnB[j] + d * d * na * f;
          bnN[i] = n;
        }
      }`
      : `
      fn bnCombine(i : u32, j : u32) {
        bnA[i] = bnA[i] + bnA[j];
        bnB[i] = bnB[i] + bnB[j];
      }`;
    let accumulate: string;
    switch (this.mode) {
      case "moments":
        accumulate = `
        if (valid) {
          let shift = xs[c];
          for (var r = r0 + lane; r < r1; r = r + BN_LANES) {
            let v = xs[r * C + c] - shift;
            n = n + 1.0;
            let d = v - a;
            a = a + d / n;
            b = b + d * (v - a);
          }
        }`;
        break;
      case "gradStats":
        accumulate = `
        if (valid) {
          let mu = means[c];
          for (var r = r0 + lane; r < r1; r = r + BN_LANES) {
            let i = r * C + c;
            let g = dys[i];
            a = a + g;
            b = b + g * (xs[i] - mu);
          }
        }`;
        break;
      case "momentsMerge":
        accumulate = `
        if (valid) {
          for (var g = lane; g < uniforms.bnGroups; g = g + BN_LANES) {
            let first = g * uniforms.bnRowsPerGroup;
            let nb = f32(min(uniforms.bnRows, first + uniforms.bnRowsPerGroup) - first);
            let mb = parts[2 * g * C + c];
            let m2b = parts[(2 * g + 1) * C + c];
            let total = n + nb;
            let d = mb - a;
            let f = nb / total;
            a = a + d * f;
            b = b + m2b + d * d * n * f;
            n = total;
          }
        }`;
        break;
      case "sumMerge":
        accumulate = `
        if (valid) {
          for (var g = lane; g < uniforms.bnGroups; g = g + BN_LANES) {
            a = a + parts[2 * g * C + c];
            b = b + parts[(2 * g + 1) * C + c];
          }
        }`;
        break;
    }
    const bOut =
      welford && this.final ? "bnB[localIndex] / f32(uniforms.bnRows)" : "bnB[localIndex]";
    // Moments: the means are of x - x[0, c] (see the top comment).
    const aOut = welford && this.final ? "xs[c] + bnA[localIndex]" : "bnA[localIndex]";
    const write = this.final
      ? `
          result[c] = ${aOut};
          result[C + c] = ${bOut};`
      : `
          let g0 = i32(workgroupId.y);
          result[2 * g0 * C + c] = bnA[localIndex];
          result[(2 * g0 + 1) * C + c] = bnB[localIndex];`;
    return `
      ${shared}
      ${combine}
      fn main() {
        let C = uniforms.bnChannels;
        let ch = localIndex % BN_CB;
        let lane = i32(localIndex / BN_CB);
        let c = i32(workgroupId.x * BN_CB + ch);
        let valid = c < C;
        let r0 = i32(workgroupId.y) * uniforms.bnRowsPerGroup;
        let r1 = min(uniforms.bnRows, r0 + uniforms.bnRowsPerGroup);
        var n = 0.0;
        var a = 0.0;
        var b = 0.0;
        ${accumulate}
        bnA[localIndex] = a;
        bnB[localIndex] = b;
        ${welford ? "bnN[localIndex] = n;" : ""}
        for (var s = BN_LANES / 2; s > 0; s = s / 2) {
          workgroupBarrier();
          if (lane < s) {
            bnCombine(localIndex, localIndex + u32(s) * BN_CB);
          }
        }
        if (lane == 0 && valid) {
          ${write}
        }
      }
    `;
  }
}

/** out = A * coef[0, c] + B * coef[1, c] + coef[2, c], elementwise (vec4 when C % 4 == 0). */
class ChannelAffine2Program implements WebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  variableNames = ["A", "B", "coef"];
  uniforms = "bnChannelsPacked : i32,";
  workgroupSize: [number, number, number] = [AFFINE_WORKGROUP, 1, 1];
  size = true;
  outputComponent: number;
  variableComponents: number[];

  constructor(size: number, channels: number) {
    const component = channels % 4 === 0 ? 4 : 1;
    this.outputComponent = component;
    this.variableComponents = [component, component, component];
    this.outputShape = [size];
    this.dispatch = [Math.ceil(size / component / AFFINE_WORKGROUP), 1, 1];
    this.shaderKey = `sgdChannelAffine2_${component}`;
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let cp = uniforms.bnChannelsPacked;
          let c = index % cp;
          setOutputAtIndex(index, A[index] * coef[c] + B[index] * coef[cp + c] + coef[2 * cp + c]);
        }
      }
    `;
  }
}

/**
 * The gradient's per-channel coefficients (batchnorm-train.ts,
 * BATCH_NORM_GRAD_COEF): one thread per channel writes k0, k1, k2, dgamma,
 * dbeta into rows 0-4 of a [5, C] output.
 */
class BatchNormGradCoefProgram implements WebGpuProgram {
  outputShape: number[];
  shaderKey = "sgdBatchNormGradCoef";
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  variableNames = ["bnStats", "bnMean", "bnVar", "bnGamma"];
  uniforms = "bnC : i32, bnEps : f32, bnInvRows : f32,";
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;

  constructor(channels: number) {
    this.outputShape = [5 * channels];
    this.dispatch = [Math.ceil(channels / 64), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        let c = uniforms.bnC;
        if (index < c) {
          let s1 = bnStats[index];
          let s2 = bnStats[c + index];
          let r = inverseSqrt(bnVar[index] + uniforms.bnEps);
          let k0 = bnGamma[index] * r;
          let k1 = -k0 * r * r * s2 * uniforms.bnInvRows;
          setOutputAtIndex(index, k0);
          setOutputAtIndex(c + index, k1);
          setOutputAtIndex(2 * c + index, -k0 * s1 * uniforms.bnInvRows - k1 * bnMean[index]);
          setOutputAtIndex(3 * c + index, r * s2);
          setOutputAtIndex(4 * c + index, s1);
        }
      }
    `;
  }
}

/** x's [rows, channels] (x of rank >= 2, channels last). */
function rowsAndChannels(x: TensorInfo, who: string): [number, number] {
  if (x.shape.length < 2) throw new Error(`${who} (webgpu): x must have rank >= 2`);
  const c = x.shape[x.shape.length - 1] as number;
  return [c === 0 ? 0 : util.sizeFromShape(x.shape) / c, c];
}

/**
 * Runs a reduction's first pass and, with several row groups, the merge
 * pass; disposes the partials.
 */
function reduce(
  backend: WebGpuBackendLike,
  first: "moments" | "gradStats",
  inputs: TensorInfo[],
  plan: ReducePlan,
): TensorInfo {
  const pass1 = new BatchNormReduceProgram(first, plan);
  const out1 = backend.runWebGPUProgram(pass1, inputs, "float32", pass1.uniformData());
  if (plan.groups === 1) return out1;
  const pass2 = new BatchNormReduceProgram(first === "moments" ? "momentsMerge" : "sumMerge", plan);
  try {
    // The moments' merge also reads x's first row (the shift).
    const inputs2 = first === "moments" ? [out1, inputs[0] as TensorInfo] : [out1];
    return backend.runWebGPUProgram(pass2, inputs2, "float32", pass2.uniformData());
  } finally {
    backend.disposeData(out1.dataId);
  }
}

export const webgpuMoments: KernelFunc = ({ inputs, backend }) => {
  const b = asWebGpuBackend(backend, MOMENTS);
  const x = floatInput(inputs, "x", `${MOMENTS} (webgpu)`);
  const [rows, c] = rowsAndChannels(x, MOMENTS);
  if (rows === 0 || c === 0) {
    // tf.moments of nothing: NaN mean and variance.
    return b.makeTensorInfo([2, c], "float32", new Float32Array(2 * c).fill(Number.NaN));
  }
  return reduce(b, "moments", [reshapedView(x, [rows, c])], reducePlan(rows, c));
};

export const webgpuBatchNormGradStats: KernelFunc = ({ inputs, backend }) => {
  const b = asWebGpuBackend(backend, BATCH_NORM_GRAD_STATS);
  const x = floatInput(inputs, "x", `${BATCH_NORM_GRAD_STATS} (webgpu)`);
  const dy = floatInput(inputs, "dy", `${BATCH_NORM_GRAD_STATS} (webgpu)`);
  const mean = floatInput(inputs, "mean", `${BATCH_NORM_GRAD_STATS} (webgpu)`);
  const [rows, c] = rowsAndChannels(x, BATCH_NORM_GRAD_STATS);
  if (util.sizeFromShape(dy.shape) !== rows * c || dy.shape[dy.shape.length - 1] !== c) {
    throw new Error(`${BATCH_NORM_GRAD_STATS} (webgpu): dy must have x's shape`);
  }
  if (util.sizeFromShape(mean.shape) !== c) {
    throw new Error(`${BATCH_NORM_GRAD_STATS} (webgpu): mean must have ${c} values`);
  }
  if (rows === 0 || c === 0) {
    return b.makeTensorInfo([2, c], "float32", new Float32Array(2 * c));
  }
  return reduce(
    b,
    "gradStats",
    [reshapedView(x, [rows, c]), reshapedView(dy, [rows, c]), reshapedView(mean, [c])],
    reducePlan(rows, c),
  );
};

export const webgpuChannelAffine2: KernelFunc = ({ inputs, backend }) => {
  const b = asWebGpuBackend(backend, CHANNEL_AFFINE2);
  const a = floatInput(inputs, "a", `${CHANNEL_AFFINE2} (webgpu)`);
  const bIn = floatInput(inputs, "b", `${CHANNEL_AFFINE2} (webgpu)`);
  const coef = floatInput(inputs, "coef", `${CHANNEL_AFFINE2} (webgpu)`);
  const [rows, c] = rowsAndChannels(a, CHANNEL_AFFINE2);
  if (bIn.shape.length !== a.shape.length || bIn.shape.some((d, i) => d !== a.shape[i])) {
    throw new Error(`${CHANNEL_AFFINE2} (webgpu): a and b must have the same shape`);
  }
  if (coef.shape.length !== 2 || (coef.shape[0] as number) < 3 || coef.shape[1] !== c) {
    throw new Error(`${CHANNEL_AFFINE2} (webgpu): coef must be [3 or more, ${c}]`);
  }
  const size = rows * c;
  if (size === 0) return b.makeTensorInfo([...a.shape], "float32", new Float32Array(0));
  const program = new ChannelAffine2Program(size, c);
  const out = b.runWebGPUProgram(
    program,
    [reshapedView(a, [size]), reshapedView(bIn, [size]), reshapedView(coef, [3 * c])],
    "float32",
    [{ type: "int32", data: [c / (program.outputComponent ?? 1)] }],
  );
  // The result's one reference, with a's shape (as tfjs's reshape does).
  return { dataId: out.dataId, shape: [...a.shape], dtype: "float32" };
};

export const webgpuBatchNormGradCoef: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = asWebGpuBackend(backend, BATCH_NORM_GRAD_COEF);
  const stats = floatInput(inputs, "stats", `${BATCH_NORM_GRAD_COEF} (webgpu)`);
  const mean = floatInput(inputs, "mean", `${BATCH_NORM_GRAD_COEF} (webgpu)`);
  const variance = floatInput(inputs, "variance", `${BATCH_NORM_GRAD_COEF} (webgpu)`);
  const gamma = floatInput(inputs, "gamma", `${BATCH_NORM_GRAD_COEF} (webgpu)`);
  const c = util.sizeFromShape(mean.shape);
  if (
    util.sizeFromShape(stats.shape) !== 2 * c ||
    util.sizeFromShape(variance.shape) !== c ||
    util.sizeFromShape(gamma.shape) !== c
  ) {
    throw new Error(
      `${BATCH_NORM_GRAD_COEF} (webgpu): expected stats [2, ${c}] and [${c}] vectors`,
    );
  }
  const { epsilon, rows } = attrs as unknown as { epsilon: number; rows: number };
  if (c === 0) return b.makeTensorInfo([5, 0], "float32", new Float32Array(0));
  const program = new BatchNormGradCoefProgram(c);
  const out = b.runWebGPUProgram(program, [stats, mean, variance, gamma], "float32", [
    { type: "int32", data: [c] },
    { type: "float32", data: [epsilon] },
    { type: "float32", data: [1 / rows] },
  ]);
  return { dataId: out.dataId, shape: [5, c], dtype: "float32" };
};

export const webgpuBatchNormGradCoefConfig: KernelConfig = {
  kernelName: BATCH_NORM_GRAD_COEF,
  backendName: "webgpu",
  kernelFunc: webgpuBatchNormGradCoef,
};

export const webgpuMomentsConfig: KernelConfig = {
  kernelName: MOMENTS,
  backendName: "webgpu",
  kernelFunc: webgpuMoments,
};

export const webgpuBatchNormGradStatsConfig: KernelConfig = {
  kernelName: BATCH_NORM_GRAD_STATS,
  backendName: "webgpu",
  kernelFunc: webgpuBatchNormGradStats,
};

export const webgpuChannelAffine2Config: KernelConfig = {
  kernelName: CHANNEL_AFFINE2,
  backendName: "webgpu",
  kernelFunc: webgpuChannelAffine2,
};

/** The four kernels of batchnorm-train.ts's op for webgpu. */
export const webgpuBatchNormTrainKernels: KernelConfig[] = [
  webgpuMomentsConfig,
  webgpuBatchNormGradStatsConfig,
  webgpuBatchNormGradCoefConfig,
  webgpuChannelAffine2Config,
];
