/**
 * Batch norm in training on webgpu: tfjs's own ops against the project's
 * WebGPU kernels (core/engine/kernels/webgpu-batchnorm.ts), for the batch-norm
 * shapes of ResNet-18 (CIFAR, 32x32 input: 5 layers each at [B,32,32,64],
 * [B,16,16,128], [B,8,8,256], [B,4,4,512]). Per shape, three comparisons:
 *
 *   moments  tf.moments(x, [0,1,2])          vs SgdStudioMoments
 *   sums     the four per-channel sums of tfjs's FusedBatchNorm gradient
 *            (its activation-sized temporaries, as tfjs-core 4.22 computes
 *            them)                           vs SgdStudioBatchNormGradStats
 *   layer    a whole batch-norm layer, forward and backward: tf.valueAndGrads
 *            of batchNorm(x, moments(x)) w.r.t. x, scale, offset
 *                                            vs the same of the fused op
 *            batchNormTrain (Moments, FusedBatchNorm, GradStats, GradCoef,
 *            ChannelAffine2)
 *
 * Each figure is the median of --runs calls after --warmup calls, each
 * synchronised by `await data()` of every output; "disp" is the number of
 * WebGPU dispatches (runWebGPUProgram calls) of one call. "max rel" is the
 * largest difference between the two ways' outputs over each output's
 * largest magnitude. The step totals weight each shape by its 5 layers.
 *
 * Run: XDG_RUNTIME_DIR=/tmp npx tsx bench/webgpu-batchnorm.bench.ts
 *        [--batch 8] [--runs 5] [--warmup 2] [--json]
 * (batch 128 on a real GPU.)
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../core/engine/backends.js";
import { batchNormTrain } from "../core/engine/kernels/batchnorm-train.js";
import { countWebgpuPrograms } from "../core/engine/kernels/testing.js";
import { BATCH_NORM_GRAD_STATS, MOMENTS } from "../core/engine/kernels/webgpu-batchnorm.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const batch = Number(arg("batch", "8"));
const runs = Number(arg("runs", "5"));
const warmup = Number(arg("warmup", "2"));
const json = process.argv.includes("--json");
const EPS = 1e-3;

/** [height = width, channels, layers of this shape in ResNet-18 (CIFAR)]. */
const SHAPES: [number, number, number][] = [
  [32, 64, 5],
  [16, 128, 5],
  [8, 256, 5],
  [4, 512, 5],
];
const AXES = [0, 1, 2];

interface Inputs {
  x: tf.Tensor4D;
  dy: tf.Tensor4D;
  scale: tf.Tensor1D;
  offset: tf.Tensor1D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

function run(name: string, inputs: tf.NamedTensorMap): tf.Tensor {
  return tf.engine().runKernel(name, inputs, {}) as tf.Tensor;
}

/* ---------------------------------------------------------------- tfjs's way */

function tfjsMoments(t: Inputs): tf.Tensor[] {
  const m = tf.moments(t.x, AXES);
  return [m.mean, m.variance];
}

/**
 * The per-channel sums of tfjs-core 4.22's FusedBatchNorm gradient (mean,
 * variance, scale and offset derivatives), with its temporaries.
 */
function tfjsGradSums(t: Inputs): tf.Tensor[] {
  const xMinusMean = tf.sub(t.x, t.mean);
  const dyTimesScale = tf.mul(t.dy, t.scale);
  const r = tf.rsqrt(tf.add(t.variance, tf.scalar(EPS)));
  const minusHalfRCube = tf.mul(tf.mul(tf.mul(r, r), r), tf.scalar(-0.5));
  const dMean = tf.sum(tf.mul(tf.mul(r, tf.scalar(-1)), dyTimesScale), AXES);
  const dVariance = tf.sum(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale), AXES);
  const dScale = tf.sum(tf.mul(t.dy, tf.mul(xMinusMean, r)), AXES);
  const dOffset = tf.sum(t.dy, AXES);
  return [dMean, dVariance, dScale, dOffset];
}

/** The layer: y and d(x, scale, offset) of batchNorm(x, moments(x)) with tfjs's gradients. */
function tfjsLayer(t: Inputs): tf.Tensor[] {
  const f = (x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor): tf.Tensor => {
    const m = tf.moments(x, AXES);
    return tf.batchNorm(x, m.mean, m.variance, offset, scale, EPS);
  };
  const { value, grads } = tf.valueAndGrads(f)([t.x, t.scale, t.offset], t.dy);
  return [value, ...grads];
}

/* ------------------------------------------------------------------ new way */

function newMoments(t: Inputs): tf.Tensor[] {
  return [run(MOMENTS, { x: t.x })];
}

/** The same four sums from one GradStats call and [C]-sized ops. */
function newGradSums(t: Inputs): tf.Tensor[] {
  const c = t.mean.shape[0];
  const stats = run(BATCH_NORM_GRAD_STATS, { x: t.x, dy: t.dy, mean: t.mean }) as tf.Tensor2D;
  const [s1, s2] = tf.split(stats, 2, 0).map((s) => tf.reshape(s, [c]));
  const r = tf.rsqrt(tf.add(t.variance, tf.scalar(EPS)));
  const scaleR = tf.mul(t.scale, r);
  return [
    tf.neg(tf.mul(scaleR, s1 as tf.Tensor)),
    tf.mul(tf.mul(scaleR, tf.mul(r, r)), tf.mul(s2 as tf.Tensor, tf.scalar(-0.5))),
    tf.mul(r, s2 as tf.Tensor),
    s1 as tf.Tensor,
  ];
}

/** The layer as training runs it: the fused op (core/engine/kernels/batchnorm-train.ts). */
function newLayer(t: Inputs): tf.Tensor[] {
  const f = (x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor): tf.Tensor =>
    batchNormTrain(x, scale, offset, EPS).y;
  const { value, grads } = tf.valueAndGrads(f)([t.x, t.scale, t.offset], t.dy);
  return [value, ...grads];
}

/* ----------------------------------------------------------------- harness */

/** Runs `f` and reads every output; returns the values (everything disposed). */
async function once(f: (t: Inputs) => tf.Tensor[], t: Inputs): Promise<Float32Array[]> {
  const outs = tf.tidy(() => f(t));
  const values = await Promise.all(
    outs.map(async (o) => Float32Array.from((await o.data()) as Float32Array)),
  );
  tf.dispose(outs);
  return values;
}

async function time(f: (t: Inputs) => tf.Tensor[], t: Inputs): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = performance.now();
    await once(f, t);
    if (i >= warmup) ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** Largest |a - b| / max |b| over the outputs (the moments' [2, C] against [C] + [C]). */
function maxRel(a: Float32Array[], b: Float32Array[]): number {
  const flat = (vs: Float32Array[]) => {
    const out = new Float32Array(vs.reduce((n, v) => n + v.length, 0));
    let o = 0;
    for (const v of vs) {
      out.set(v, o);
      o += v.length;
    }
    return out;
  };
  if (a.length !== b.length) return maxRel([flat(a)], [flat(b)]);
  let worst = 0;
  for (const [i, av] of a.entries()) {
    const bv = b[i] as Float32Array;
    let diff = 0;
    let scale = 0;
    for (let j = 0; j < bv.length; j++) {
      diff = Math.max(diff, Math.abs((av[j] as number) - (bv[j] as number)));
      scale = Math.max(scale, Math.abs(bv[j] as number));
    }
    worst = Math.max(worst, scale === 0 ? diff : diff / scale);
  }
  return worst;
}

interface Row {
  shape: number[];
  layers: number;
  what: string;
  tfjsMs: number;
  newMs: number;
  tfjsDispatches: number;
  newDispatches: number;
  maxRel: number;
}

async function main(): Promise<void> {
  // Registers the project's kernels (core/engine/kernels/index.ts) too.
  const sel = await selectBackend("webgpu");
  const comparisons: [string, (t: Inputs) => tf.Tensor[], (t: Inputs) => tf.Tensor[]][] = [
    ["moments", tfjsMoments, newMoments],
    ["sums", tfjsGradSums, newGradSums],
    ["layer", tfjsLayer, newLayer],
  ];
  const rows: Row[] = [];
  if (!json) {
    console.log(`${sel.summary}; batch ${batch}, median of ${runs} (+${warmup} warm-up)`);
    console.log("x shape            what      tfjs ms   new ms  speed-up  disp tfjs/new  max rel");
  }
  for (const [hw, c, layers] of SHAPES) {
    const shape: [number, number, number, number] = [batch, hw, hw, c];
    const t: Inputs = {
      x: tf.add(tf.randomNormal(shape, 0, 1, "float32", 1), tf.scalar(0.5)) as tf.Tensor4D,
      dy: tf.randomNormal(shape, 0, 1, "float32", 2) as tf.Tensor4D,
      scale: tf.randomUniform([c], 0.5, 1.5, "float32", 3) as tf.Tensor1D,
      offset: tf.randomUniform([c], -0.5, 0.5, "float32", 4) as tf.Tensor1D,
      mean: tf.fill([c], 0.5) as tf.Tensor1D,
      variance: tf.ones([c]) as tf.Tensor1D,
    };
    for (const [what, theirs, ours] of comparisons) {
      const ref = await once(theirs, t);
      const got = await once(ours, t);
      const row: Row = {
        shape,
        layers,
        what,
        tfjsMs: await time(theirs, t),
        newMs: await time(ours, t),
        tfjsDispatches: await countWebgpuPrograms(() => once(theirs, t)),
        newDispatches: await countWebgpuPrograms(() => once(ours, t)),
        maxRel: maxRel(got, ref),
      };
      rows.push(row);
      if (!json) {
        console.log(
          `${JSON.stringify(shape).padEnd(18)} ${what.padEnd(8)} ${row.tfjsMs.toFixed(2).padStart(8)} ${row.newMs.toFixed(2).padStart(8)} ${`${(row.tfjsMs / row.newMs).toFixed(2)}x`.padStart(9)} ${`${row.tfjsDispatches}/${row.newDispatches}`.padStart(14)}  ${row.maxRel.toExponential(1)}`,
        );
      }
    }
    tf.dispose(Object.values(t));
  }
  const totals = comparisons.map(([what]) => {
    const of = rows.filter((r) => r.what === what);
    const sum = (f: (r: Row) => number) => of.reduce((s, r) => s + r.layers * f(r), 0);
    return {
      what,
      tfjsMs: sum((r) => r.tfjsMs),
      newMs: sum((r) => r.newMs),
      tfjsDispatches: sum((r) => r.tfjsDispatches),
      newDispatches: sum((r) => r.newDispatches),
    };
  });
  if (json) {
    console.log(JSON.stringify({ batch, runs, warmup, backend: sel.summary, rows, totals }));
    return;
  }
  console.log("per training step (20 batch-norm layers):");
  for (const s of totals) {
    console.log(
      `  ${s.what.padEnd(8)} tfjs ${s.tfjsMs.toFixed(1)} ms, ${s.tfjsDispatches} dispatches; new ${s.newMs.toFixed(1)} ms, ${s.newDispatches} dispatches (${(s.tfjsMs / s.newMs).toFixed(2)}x)`,
    );
  }
}

await main();
