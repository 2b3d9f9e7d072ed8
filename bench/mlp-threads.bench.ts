/**
 * Issue 19: where the mlp's step goes at 1 vs 2 wasm threads. Alternates the
 * thread counts in one process (rounds), times whole steps (median, mean,
 * process CPU time) and, with --kernels, every kernel call by name and shapes.
 *
 * Run: npx tsx bench/mlp-threads.bench.ts [--rounds 4] [--steps 60] [--kernels]
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../core/engine/backends.js";
import { setOwnProducts } from "../core/engine/kernels/wasm-batch-matmul.js";
import { setPoolSpin } from "../core/engine/kernels/wasm-parallel.js";
import { Optimizer } from "../core/engine/optimizers.js";
import { trainStep } from "../core/engine/step.js";
import { createModel } from "../core/models/index.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const rounds = Number(arg("rounds", "4"));
const steps = Number(arg("steps", "60"));
const batch = Number(arg("batch", "128"));
const modelName = arg("model", "mlp") as "mlp" | "cnn";
/** --own on,off: alternate our products (gemm) with XNNPACK's in each round (A/B). */
const ownList = arg("own", "on")
  .split(",")
  .map((v) => v === "on");
/** --spin W:M,W:M: kernel pool spin times (worker:main, microseconds) to alternate. */
const spinList = arg("spin", "")
  .split(",")
  .filter(Boolean)
  .map((v) => v.split(":").map(Number) as [number, number]);
const threadList = arg("threads", "1,2").split(",").map(Number);
const perKernel = process.argv.includes("--kernels");

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

/** Wraps every registered wasm kernel with a timer keyed by name + input shapes. */
function hookKernels(times: Map<string, number[]>): () => void {
  const originals: [tf.KernelConfig, tf.KernelFunc][] = [];
  for (const k of tf.getKernelsForBackend("wasm")) {
    const f = k.kernelFunc;
    originals.push([k, f]);
    (k as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
      const t0 = performance.now();
      const r = f(args);
      const dt = performance.now() - t0;
      const key = `${k.kernelName} ${Object.values(args.inputs)
        .map((i) => JSON.stringify((i as tf.TensorInfo | undefined)?.shape ?? null))
        .join(" ")}`;
      const l = times.get(key) ?? [];
      l.push(dt);
      times.set(key, l);
      return r;
    };
  }
  return () => {
    for (const [k, f] of originals) (k as { kernelFunc: tf.KernelFunc }).kernelFunc = f;
  };
}

const results = new Map<
  string,
  { med: number[]; mean: number[]; cpu: number[]; kernels: Map<string, number[]> }
>();
type Config = { threads: number; own: boolean; spin: [number, number] | null };
const configs: Config[] = threadList.flatMap((threads) =>
  ownList.flatMap((own) =>
    (spinList.length && threads > 1 ? spinList : [null]).map((spin) => ({ threads, own, spin })),
  ),
);
const label = (c: Config) =>
  `${c.threads}t${ownList.length > 1 ? (c.own ? " own" : " xnn") : ""}${c.spin ? ` spin ${c.spin.join(":")}` : ""}`;
for (let round = 1; round <= rounds; round++) {
  for (const config of configs) {
    const { threads } = config;
    const key = label(config);
    setOwnProducts(config.own);
    if (config.spin) {
      // A pool starts with the spin times in force: start a fresh backend.
      setPoolSpin(...config.spin);
      await selectBackend("wasm", { wasmThreads: 1 });
    }
    await selectBackend("wasm", { wasmThreads: threads });
    const model = createModel(modelName, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = new Optimizer({ kind: "sgd" }, variables);
    const m = { model, variables, optimizer, numClasses: 10 };
    const x = tf.randomNormal([batch, 28, 28, 1], 0, 1, "float32", 1) as tf.Tensor4D;
    const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
    const step = async () => {
      const r = trainStep(m, x, labels, 0.01, false);
      await r.loss.data();
      tf.dispose([r.loss, r.gradNormSq, r.correct]);
    };
    for (let i = 0; i < 10; i++) await step();
    const times: number[] = [];
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const s = performance.now();
      await step();
      times.push(performance.now() - s);
    }
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const r = results.get(key) ?? { med: [], mean: [], cpu: [], kernels: new Map() };
    results.set(key, r);
    r.med.push(median(times));
    r.mean.push(wall / steps);
    r.cpu.push((cpu.user + cpu.system) / 1000 / steps);
    if (perKernel) {
      const k = new Map<string, number[]>();
      const unhook = hookKernels(k);
      for (let i = 0; i < 20; i++) await step();
      unhook();
      for (const [key, v] of k) {
        const per = v.length / 20;
        // median per call x calls per step
        const l = r.kernels.get(key) ?? [];
        l.push(median(v) * per);
        r.kernels.set(key, l);
      }
    }
    // Stalls: steps over 1.5x the median, and what they add to the mean.
    const med = median(times);
    const slow = times.filter((t) => t > 1.5 * med);
    const excess = slow.reduce((s, t) => s + t - med, 0) / steps;
    console.log(
      `round ${round} ${key}: median ${med.toFixed(2)} ms, mean ${(wall / steps).toFixed(2)} ms, cpu ${((cpu.user + cpu.system) / 1000 / steps).toFixed(2)} ms/step; ${slow.length} steps > 1.5x median (+${excess.toFixed(2)} ms/step; longest ${Math.max(...times).toFixed(1)} ms)`,
    );
    optimizer.dispose();
    model.dispose();
    x.dispose();
  }
}
// Summary: every configuration against the first.
const keys = [...results.keys()];
const summary = (k: string) => {
  const r = results.get(k);
  return r ? { med: median(r.med), mean: median(r.mean), cpu: median(r.cpu) } : null;
};
console.log(
  `\nmedians over ${rounds} rounds (per round: median step, mean step, CPU time per step):`,
);
const base = summary(keys[0] as string);
for (const k of keys) {
  const s = summary(k);
  if (!s || !base) continue;
  console.log(
    `${k.padEnd(10)} median ${s.med.toFixed(2)} ms (${(base.med / s.med).toFixed(2)}x), mean ${s.mean.toFixed(2)} ms (${(base.mean / s.mean).toFixed(2)}x), cpu ${s.cpu.toFixed(2)} ms/step`,
  );
}
const [a, b] = keys;
const ra = results.get(a as string);
const rb = results.get(b as string);
if (ra && rb) {
  if (perKernel) {
    console.log(`\nper kernel (ms per step, median), ${a} / ${b}:`);
    const rows = [...ra.kernels.keys()].map(
      (k) => [k, median(ra.kernels.get(k) ?? []), median(rb.kernels.get(k) ?? [])] as const,
    );
    rows.sort((x, y) => y[1] - x[1]);
    let s1 = 0;
    let s2 = 0;
    for (const [k, t1, t2] of rows) {
      s1 += t1;
      s2 += t2;
      if (t1 > 0.02 || t2 > 0.02)
        console.log(
          `${t1.toFixed(3).padStart(7)} ${t2.toFixed(3).padStart(7)} ${(t1 / t2).toFixed(2).padStart(5)}x  ${k}`,
        );
    }
    console.log(`kernels (top-level and nested, summed): ${s1.toFixed(2)} / ${s2.toFixed(2)} ms`);
  }
}
process.exit(0);
