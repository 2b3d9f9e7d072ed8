/**
 * The small `cnn` model's training step (forward + gradients + SGD update,
 * through core/engine/step.ts's trainStep) at batch 128 on random 28x28x1
 * data: ms/step, img/s and the top kernels by time, on wasm and, in the same
 * process, on the pure-JS cpu backend as the baseline.
 *
 * Kernel times come from tf.profile: wasm and cpu time each kernel by the
 * wall clock around it (their kernels are synchronous), so the breakdown is
 * the time spent inside each kernel. Kernels that an override calls directly
 * (e.g. BatchMatMul inside Conv2DBackpropFilter) count towards the override.
 * The machine may be shared: ms/step is the median over the timed steps, and
 * each kernel's time the median over the profiled steps.
 *
 * The cpu backend needs minutes per step at batch 128 (its
 * Conv2DBackpropFilter alone ~2 s per image), so by default it runs one
 * step, profiled, which gives both its time and its breakdown; --cpu-batch
 * runs it at a smaller batch (the ratio is then per image).
 *
 * Run: npx tsx bench/cnn-step.bench.ts [--backends wasm,cpu] [--batch 128]
 *        [--steps 10] [--warmup 2] [--profile-steps 3] [--cpu-steps 1]
 *        [--cpu-batch 128] [--top 12] [--calls 0] [--json]
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../core/engine/backends.js";
import { Optimizer } from "../core/engine/optimizers.js";
import { type StepModel, trainStep } from "../core/engine/step.js";
import { createModel } from "../core/models/index.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const backends = arg("backends", "wasm,cpu").split(",");
const batch = Number(arg("batch", "128"));
const steps = Number(arg("steps", "10"));
const warmup = Number(arg("warmup", "2"));
/** Profiled steps (after the timed ones); each kernel's time is its median over them. */
const profiled = Number(arg("profile-steps", "3"));
/** cpu: steps, each one profiled and timed (no warm-up: a step takes minutes). */
const cpuSteps = Number(arg("cpu-steps", "1"));
const cpuBatch = Number(arg("cpu-batch", String(batch)));
const top = Number(arg("top", "12"));
/** Also print the slowest individual kernel calls, with shapes. */
const calls = Number(arg("calls", "0"));
const EPOCH = 60_000;

interface KernelRow {
  name: string;
  ms: number;
  calls: number;
}

interface CallRow {
  name: string;
  ms: number;
  shapes: string;
}

interface Result {
  backend: string;
  batch: number;
  /** Median over the timed steps. */
  msPerStep: number;
  meanMsPerStep: number;
  minMsPerStep: number;
  imgPerSec: number;
  firstStepMs: number;
  epochMinutes: number;
  profiledStepMs: number;
  kernels: KernelRow[];
  slowest: CallRow[];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Per-kernel times of one profiled step, by name, and its individual calls. */
function summarize(profileKernels: Awaited<ReturnType<typeof tf.profile>>["kernels"]): {
  byName: Map<string, KernelRow>;
  calls: CallRow[];
} {
  const byName = new Map<string, KernelRow>();
  const list: CallRow[] = [];
  for (const k of profileKernels) {
    // "<name>__op" entries are customGrad ops (tfjs-layers' fused conv and
    // dense); their time includes the kernels they run, listed separately.
    if (k.name.endsWith("__op")) continue;
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    const shapes = (s: number[][]) => s.map((d) => `[${d}]`).join(" ");
    list.push({
      name: k.name,
      ms,
      shapes: `${shapes(k.inputShapes)} -> ${shapes(k.outputShapes)}`,
    });
    const row = byName.get(k.name) ?? { name: k.name, ms: 0, calls: 0 };
    row.ms += ms;
    row.calls += 1;
    byName.set(k.name, row);
  }
  list.sort((a, b) => b.ms - a.ms);
  return { byName, calls: list };
}

async function measure(backend: string): Promise<Result> {
  const sel = await selectBackend(backend);
  console.error(sel.summary);
  const isCpu = sel.name === "cpu";
  const n = isCpu ? cpuBatch : batch;
  const shape: [number, number, number] = [28, 28, 1];
  const model = createModel("cnn", { inputShape: shape, numClasses: 10, seed: 0 });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new Optimizer({ kind: "sgd" }, variables);
  const m: StepModel = { model, variables, optimizer, numClasses: 10 };
  const x = tf.randomNormal([n, ...shape], 0, 1, "float32", 1) as tf.Tensor4D;
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % 10);
  const step = async () => {
    const r = trainStep(m, x, labels, 0.01, false);
    await r.loss.data();
    tf.dispose([r.loss, r.gradNormSq, r.correct]);
  };
  const perStep: Map<string, KernelRow>[] = [];
  const profiledTimes: number[] = [];
  let slowest: CallRow[] = [];
  const profiledStep = async () => {
    const t = performance.now();
    const info = await tf.profile(step);
    profiledTimes.push(performance.now() - t);
    const s = summarize(info.kernels);
    perStep.push(s.byName);
    if (slowest.length === 0) slowest = s.calls;
  };

  const times: number[] = [];
  let firstStepMs: number;
  if (isCpu) {
    for (let i = 0; i < Math.max(1, cpuSteps); i++) await profiledStep();
    times.push(...profiledTimes);
    firstStepMs = times[0] as number;
  } else {
    let t = performance.now();
    await step();
    firstStepMs = performance.now() - t;
    for (let i = 1; i < warmup; i++) await step();
    for (let i = 0; i < steps; i++) {
      t = performance.now();
      await step();
      times.push(performance.now() - t);
    }
    for (let i = 0; i < Math.max(1, profiled); i++) await profiledStep();
  }
  const names = new Set(perStep.flatMap((s) => [...s.keys()]));
  const kernels = [...names]
    .map((name) => ({
      name,
      ms: median(perStep.map((s) => s.get(name)?.ms ?? 0)),
      calls: perStep[0]?.get(name)?.calls ?? 0,
    }))
    .sort((a, b) => b.ms - a.ms);

  optimizer.dispose();
  model.dispose();
  x.dispose();
  const msPerStep = median(times);
  return {
    backend: sel.name,
    batch: n,
    msPerStep,
    meanMsPerStep: times.reduce((a, b) => a + b, 0) / times.length,
    minMsPerStep: Math.min(...times),
    imgPerSec: (1000 * n) / msPerStep,
    firstStepMs,
    epochMinutes: ((EPOCH / n) * msPerStep) / 60_000,
    profiledStepMs: median(profiledTimes),
    kernels,
    slowest: slowest.slice(0, calls),
  };
}

function report(r: Result): void {
  const epoch =
    r.epochMinutes >= 120
      ? `~${(r.epochMinutes / 60).toFixed(1)} h`
      : `~${r.epochMinutes.toFixed(1)} min`;
  console.log(
    `cnn ${r.backend}: ${r.msPerStep.toFixed(1)} ms/step (median of ${r.backend === "cpu" ? Math.max(1, cpuSteps) : steps}; ` +
      `mean ${r.meanMsPerStep.toFixed(1)}, min ${r.minMsPerStep.toFixed(1)}), ${r.imgPerSec.toFixed(1)} img/s ` +
      `(batch ${r.batch}; first step ${r.firstStepMs.toFixed(0)} ms; ${epoch} per ${EPOCH} images)`,
  );
  const total = r.kernels.reduce((s, k) => s + k.ms, 0);
  console.log(
    `  profiled step ${r.profiledStepMs.toFixed(0)} ms, in kernels ${total.toFixed(0)} ms; top kernels:`,
  );
  for (const k of r.kernels.slice(0, top)) {
    const pct = ((100 * k.ms) / total).toFixed(1);
    console.log(
      `    ${k.name.padEnd(28)} ${k.ms.toFixed(1).padStart(9)} ms ${String(k.calls).padStart(4)} calls ${pct.padStart(5)}%`,
    );
  }
  if (r.slowest.length > 0) console.log("  slowest calls (first profiled step):");
  for (const c of r.slowest) {
    console.log(`    ${c.name.padEnd(28)} ${c.ms.toFixed(1).padStart(9)} ms  ${c.shapes}`);
  }
}

const results: Result[] = [];
for (const b of backends) {
  const r = await measure(b);
  results.push(r);
  report(r);
}
const base = results.find((r) => r.backend === "cpu");
if (base) {
  for (const r of results) {
    if (r === base) continue;
    const ratio = r.imgPerSec / base.imgPerSec;
    const per = r.batch === base.batch ? "per step" : `per image (cpu at batch ${base.batch})`;
    console.log(`${r.backend} vs cpu: ${ratio.toFixed(1)}x faster ${per}`);
  }
}
if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ date: new Date().toISOString(), batch, steps, results }));
}
