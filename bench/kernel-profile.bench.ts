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
 * On wasm, `--threads 1,2` profiles the same step at each thread count in
 * one process and prints, per kernel, the time at each count and the
 * speedup: which kernels run on the threads (XNNPACK, the project's parallel
 * JS kernels) and which stay serial; `--repeat R` takes each kernel's median
 * over R profiled steps (a shared machine's noise).
 *
 * Run: npx tsx bench/kernel-profile.bench.ts --backend webgpu --model resnet18 --batch 8
 *      [--top 25] [--json]   (on a GPU: --batch 128)
 *      npx tsx bench/kernel-profile.bench.ts --backend wasm --model cnn --batch 128 --threads 1,2 --repeat 5
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
const repeat = Math.max(1, Number(arg("repeat", "1")));
const threadList = arg("threads", "")
  .split(",")
  .filter(Boolean)
  .map((t) => Number(t));
if (threadList.some((t) => !Number.isInteger(t) || t < 1)) {
  console.error("--threads takes whole numbers >= 1, e.g. 1,2");
  process.exit(2);
}
const inputShape: [number, number, number] = modelName === "resnet18" ? [32, 32, 3] : [28, 28, 1];

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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** One profiled step, per kernel name (top level; parts under them). */
function tabulate(
  profile: Awaited<ReturnType<typeof tf.profile>>,
  webgpu: boolean,
): Map<string, Row> {
  const rows = new Map<string, Row>();
  let pendingParts: { name: string; ms: number; depth: number; programs: number }[] = [];
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
    const rowMs = webgpu ? ms + childMs : ms;
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
  }
  return rows;
}

interface Profiled {
  threads: number | null;
  summary: string;
  wallMs: number;
  profiledWallMs: number;
  rows: Row[];
  totalMs: number;
}

/** Profiles `repeat` warm steps on the backend (wasm: on `threads` threads); medians per kernel. */
async function profileAt(threads: number | null): Promise<Profiled> {
  const selection = await selectBackend(
    backendName,
    threads === null ? {} : { wasmThreads: threads },
  );
  console.error(selection.summary);
  const model = createModel(modelName, { inputShape, numClasses: 10, seed: 0 });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new Optimizer({ kind: "sgd" }, variables);
  const m = { model, variables, optimizer, numClasses: 10 };
  const x = tf.randomNormal([batch, ...inputShape], 0, 1, "float32", 1) as tf.Tensor4D;
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const step = async (): Promise<void> => {
    const r = trainStep(m, x, labels, 0.01, false);
    await r.loss.data();
    tf.dispose([r.loss, r.gradNormSq, r.correct]);
  };
  try {
    // Two warm-up steps: shader compilation and buffer pools settle.
    await step();
    await step();
    const walls: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const t = performance.now();
      await step();
      walls.push(performance.now() - t);
    }
    const tables: Map<string, Row>[] = [];
    const profiledWalls: number[] = [];
    const restore = trackDepth();
    try {
      for (let i = 0; i < repeat; i++) {
        const t = performance.now();
        const profile = await tf.profile(step);
        profiledWalls.push(performance.now() - t);
        tables.push(tabulate(profile, selection.name === "webgpu"));
      }
    } finally {
      restore();
    }
    // Per kernel: the median over the repeats of its summed time in a step.
    const rows = new Map<string, Row>();
    for (const name of new Set(tables.flatMap((t) => [...t.keys()]))) {
      const own = tables.map((t) => t.get(name));
      const first = own.find(Boolean) as Row;
      rows.set(name, { ...first, ms: median(own.map((r) => r?.ms ?? 0)) });
    }
    const sorted = [...rows.values()].sort((a, b) => b.ms - a.ms);
    return {
      threads,
      summary: selection.summary,
      wallMs: median(walls),
      profiledWallMs: median(profiledWalls),
      rows: sorted,
      totalMs: sorted.reduce((s, r) => s + r.ms, 0),
    };
  } finally {
    optimizer.dispose();
    model.dispose();
    x.dispose();
  }
}

function print(p: Profiled): void {
  const totalPrograms = p.rows.reduce((s, r) => s + r.programs, 0);
  const topLevelCalls = p.rows.reduce((s, r) => s + r.calls, 0);
  const timing = backendName === "webgpu" ? "GPU time (timestamp queries)" : "wall time per kernel";
  console.log(
    `${modelName}, batch ${batch}, ${backendName}${p.threads === null ? "" : `, ${p.threads} thread${p.threads === 1 ? "" : "s"}`}: ` +
      `step ${p.wallMs.toFixed(1)} ms wall (${p.profiledWallMs.toFixed(1)} ms under the profiler` +
      `${repeat > 1 ? `; medians of ${repeat} steps` : ""}); ${topLevelCalls} kernels` +
      (totalPrograms ? `, ${totalPrograms} GPU programs` : "") +
      `; ${timing} summed: ${p.totalMs.toFixed(1)} ms`,
  );
  console.log(
    `${"kernel".padEnd(28)} ${"calls".padStart(6)} ${"ms".padStart(9)} ${"%".padStart(6)}`,
  );
  for (const r of p.rows.slice(0, top)) {
    const share = p.totalMs > 0 ? (100 * r.ms) / p.totalMs : 0;
    console.log(
      `${r.name.padEnd(28)} ${String(r.calls).padStart(6)} ${r.ms.toFixed(1).padStart(9)} ${share.toFixed(1).padStart(6)}`,
    );
    for (const [name, part] of [...r.parts].sort((a, b) => b[1].ms - a[1].ms).slice(0, 4)) {
      console.log(
        `  └ ${name.padEnd(24)} ${String(part.calls).padStart(6)} ${part.ms.toFixed(1).padStart(9)}`,
      );
    }
  }
}

/**
 * Kernel by kernel across thread counts: ms at each and the speedup of the
 * last over the first. `parallel` is the fraction of the first count's time
 * in kernels that sped up by more than 1.25x.
 */
function compare(list: Profiled[]): { parallelFraction: number } {
  const first = list[0] as Profiled;
  const last = list[list.length - 1] as Profiled;
  const names = first.rows.map((r) => r.name);
  const at = (p: Profiled, name: string) => p.rows.find((r) => r.name === name)?.ms ?? 0;
  console.log("");
  console.log(
    `Per kernel, ms at ${list.map((p) => `${p.threads}t`).join(" / ")}, and ${last.threads}t vs ${first.threads}t:`,
  );
  console.log(
    `${"kernel".padEnd(28)} ${list.map((p) => `${p.threads}t`.padStart(8)).join(" ")} ${"speedup".padStart(8)}`,
  );
  let parallelMs = 0;
  for (const name of names.slice(0, top)) {
    const a = at(first, name);
    const b = at(last, name);
    const speedup = b > 0 ? a / b : Number.POSITIVE_INFINITY;
    console.log(
      `${name.padEnd(28)} ${list.map((p) => at(p, name).toFixed(1).padStart(8)).join(" ")} ${`${speedup.toFixed(2)}x`.padStart(8)}`,
    );
  }
  for (const name of names)
    if (at(first, name) / Math.max(at(last, name), 1e-9) > 1.25) parallelMs += at(first, name);
  const parallelFraction = first.totalMs > 0 ? parallelMs / first.totalMs : 0;
  console.log(
    `step: ${list.map((p) => `${p.wallMs.toFixed(1)} ms`).join(" / ")} (${(first.wallMs / last.wallMs).toFixed(2)}x); ` +
      `kernels that sped up > 1.25x hold ${(100 * parallelFraction).toFixed(0)}% of the ${first.threads}-thread kernel time`,
  );
  return { parallelFraction };
}

const counts: (number | null)[] = threadList.length ? threadList : [null];
const profiles: Profiled[] = [];
for (const n of counts) {
  const p = await profileAt(n);
  profiles.push(p);
  print(p);
  if (counts.length > 1) console.log("");
}
const comparison = profiles.length > 1 ? compare(profiles) : null;
if (process.argv.includes("--json")) {
  console.log(
    JSON.stringify({
      date: new Date().toISOString(),
      backend: backendName,
      model: modelName,
      batch,
      repeat,
      ...(comparison && { parallelFraction: comparison.parallelFraction }),
      profiles: profiles.map((p) => ({
        threads: p.threads,
        summary: p.summary,
        wallMs: p.wallMs,
        profiledWallMs: p.profiledWallMs,
        kernels: p.rows.reduce((s, r) => s + r.calls, 0),
        programs: p.rows.reduce((s, r) => s + r.programs, 0),
        kernelMs: p.totalMs,
        byKernel: p.rows.map((r) => ({
          name: r.name,
          calls: r.calls,
          ms: r.ms,
          programs: r.programs,
          parts: Object.fromEntries(r.parts),
        })),
      })),
    }),
  );
}
