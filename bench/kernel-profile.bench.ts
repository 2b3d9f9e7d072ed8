/**
 * Where a training step's time goes, kernel by kernel (issue 9).
 *
 * Runs one warm training step of a model under tf.profile and prints, per
 * kernel name, how often it ran and its summed time. On WebGPU the times are
 * the GPU's own (timestamp queries, which Dawn offers on lavapipe and on
 * NVIDIA); on wasm/cpu they are wall-clock times of each kernel call.
 * Kernels that our overrides build from other kernels (e.g. the webgpu
 * Conv2DBackpropFilter is a patch program + matmul) are counted once at the
 * top level; their parts are listed under them, so nothing is counted twice.
 *
 * Run: npx tsx bench/kernel-profile.bench.ts --backend webgpu --model resnet18 --batch 8
 *      [--top 25] [--json]   (on a GPU: --batch 128)
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../core/engine/backends.js";
import { Optimizer } from "../core/engine/optimizers.js";
import { trainStep } from "../core/engine/step.js";
import { createModel } from "../core/models/index.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const backendName = arg("backend", "webgpu");
const modelName = arg("model", "resnet18");
const batch = Number(arg("batch", "8"));
const top = Number(arg("top", "25"));
const inputShape: [number, number, number] = modelName === "resnet18" ? [32, 32, 3] : [28, 28, 1];

const selection = await selectBackend(backendName);
console.error(selection.summary);

interface Row {
  name: string;
  calls: number;
  ms: number;
  /** GPU programs (webgpu) run by these calls. */
  programs: number;
  /** Kernels run inside this one (overrides composed of tfjs ops). */
  parts: Map<string, { calls: number; ms: number }>;
}

/**
 * Tags each profiled kernel with its nesting depth: the engine records a
 * kernel after the kernels it ran inside itself, with no depth of its own.
 */
function trackDepth(): () => void {
  const engine = tf.engine() as unknown as {
    state: { kernelDepth: number };
    profiler: { profileKernel: (...a: unknown[]) => { extraInfo: unknown } };
  };
  const original = engine.profiler.profileKernel;
  engine.profiler.profileKernel = function (this: unknown, ...a: unknown[]) {
    const depth = engine.state.kernelDepth;
    const result = original.apply(this, a);
    const info = result.extraInfo;
    result.extraInfo = Promise.resolve(info).then((e) => ({ depth, info: e }));
    return result;
  };
  return () => {
    engine.profiler.profileKernel = original;
  };
}

const model = createModel(modelName, { inputShape, numClasses: 10, seed: 0 });
const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
const optimizer = new Optimizer({ kind: "sgd" }, variables);
const m = { model, variables, optimizer, numClasses: 10 };
const x = tf.randomNormal([batch, ...inputShape], 0, 1, "float32", 1) as tf.Tensor4D;
const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);

async function step(): Promise<void> {
  const r = trainStep(m, x, labels, 0.01, false);
  await r.loss.data();
  tf.dispose([r.loss, r.gradNormSq, r.correct]);
}

// Two warm-up steps: shader compilation and buffer pools settle.
await step();
await step();
let t = performance.now();
await step();
const wallMs = performance.now() - t;

const restore = trackDepth();
t = performance.now();
const profile = await tf.profile(step);
const profiledWallMs = performance.now() - t;
restore();

const rows = new Map<string, Row>();
let pendingParts: { name: string; ms: number; depth: number; programs: number }[] = [];
let totalMs = 0;
for (const k of profile.kernels) {
  const { depth, info } = k.extraInfo as unknown as { depth: number; info: string };
  const ms = Number(k.kernelTimeMs) || 0;
  // webgpu's extraInfo lists "Program: ms" per GPU program.
  const programs = typeof info === "string" && info.length > 0 ? info.split(", ").length : 0;
  if (depth > 1) {
    pendingParts.push({ name: k.name, ms, depth, programs });
    continue;
  }
  const row = rows.get(k.name) ?? {
    name: k.name,
    calls: 0,
    ms: 0,
    programs: 0,
    parts: new Map(),
  };
  // A kernel built from other kernels (our overrides, tfjs's fused ops) gets
  // no GPU time of its own (webgpu's timers are not inclusive): its time is
  // the sum of the kernels it ran, at every depth.
  const children = pendingParts;
  const childMs = children.reduce((s, q) => s + q.ms, 0);
  // Wall-clock timers (cpu, wasm) already include the kernels run inside.
  const rowMs = selection.name === "webgpu" ? ms + childMs : ms;
  row.calls++;
  row.ms += rowMs;
  row.programs += programs + children.reduce((s, q) => s + q.programs, 0);
  for (const p of children) {
    const part = row.parts.get(p.name) ?? { calls: 0, ms: 0 };
    part.calls++;
    part.ms += p.ms;
    row.parts.set(p.name, part);
  }
  pendingParts = [];
  rows.set(k.name, row);
  totalMs += rowMs;
}
const totalPrograms = [...rows.values()].reduce((s, r) => s + r.programs, 0);

const sorted = [...rows.values()].sort((a, b) => b.ms - a.ms);
const topLevelCalls = sorted.reduce((s, r) => s + r.calls, 0);
const timing = backendName === "webgpu" ? "GPU time (timestamp queries)" : "wall time per kernel";
console.log(
  `${modelName}, batch ${batch}, ${selection.name}: step ${wallMs.toFixed(1)} ms wall ` +
    `(${profiledWallMs.toFixed(1)} ms under the profiler); ${topLevelCalls} kernels` +
    (totalPrograms ? `, ${totalPrograms} GPU programs` : "") +
    `; ${timing} summed: ${totalMs.toFixed(1)} ms`,
);
console.log(`${"kernel".padEnd(28)} ${"calls".padStart(6)} ${"ms".padStart(9)} ${"%".padStart(6)}`);
for (const r of sorted.slice(0, top)) {
  const share = totalMs > 0 ? (100 * r.ms) / totalMs : 0;
  console.log(
    `${r.name.padEnd(28)} ${String(r.calls).padStart(6)} ${r.ms.toFixed(1).padStart(9)} ${share.toFixed(1).padStart(6)}`,
  );
  for (const [name, p] of [...r.parts].sort((a, b) => b[1].ms - a[1].ms).slice(0, 4)) {
    console.log(
      `  └ ${name.padEnd(24)} ${String(p.calls).padStart(6)} ${p.ms.toFixed(1).padStart(9)}`,
    );
  }
}
if (process.argv.includes("--json")) {
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      backend: selection.name,
      model: modelName,
      batch,
      wallMs,
      profiledWallMs,
      kernels: topLevelCalls,
      programs: totalPrograms,
      kernelMs: totalMs,
      byKernel: sorted.map((r) => ({
        name: r.name,
        calls: r.calls,
        ms: r.ms,
        programs: r.programs,
        parts: Object.fromEntries(r.parts),
      })),
    }),
  );
}
optimizer.dispose();
model.dispose();
x.dispose();
