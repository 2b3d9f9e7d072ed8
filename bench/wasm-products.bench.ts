/**
 * Issue 19: the mlp's five products alone on the wasm backend, 1 thread and 2
 * (alternating rounds in one process): median time per call, as BatchMatMul
 * sees them in a training step (x W1, x^T dy, h1 W2, h1^T dy, dy W2^T).
 *
 * Run: npx tsx bench/wasm-products.bench.ts [--rounds 4] [--calls 200]
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../core/engine/backends.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const rounds = Number(arg("rounds", "4"));
const calls = Number(arg("calls", "200"));

/** [a shape, b shape, transposeA, transposeB]. */
const PRODUCTS: [number[], number[], boolean, boolean][] = [
  [[128, 784], [784, 256], false, false],
  [[128, 784], [128, 256], true, false],
  [[128, 256], [256, 128], false, false],
  [[128, 256], [128, 128], true, false],
  [[128, 128], [256, 128], false, true],
];
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1] as number;
const label = ([a, b, ta, tb]: (typeof PRODUCTS)[number]) =>
  `[${a}]${ta ? "^T" : ""} x [${b}]${tb ? "^T" : ""}`;

const times = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const threads of [1, 2]) {
    await selectBackend("wasm", { wasmThreads: threads });
    for (const p of PRODUCTS) {
      const [as, bs, ta, tb] = p;
      const a = tf.randomNormal(as);
      const b = tf.randomNormal(bs);
      for (let i = 0; i < 20; i++) tf.matMul(a, b, ta, tb).dispose();
      const t: number[] = [];
      for (let i = 0; i < calls; i++) {
        const s = performance.now();
        const c = tf.matMul(a, b, ta, tb);
        t.push(performance.now() - s);
        c.dispose();
      }
      const key = `${label(p)}|${threads}`;
      times.set(key, [...(times.get(key) ?? []), median(t)]);
      tf.dispose([a, b]);
    }
  }
}
console.log(
  `median us per call over ${rounds} rounds of ${calls} calls: 1 thread, 2 threads, speedup`,
);
for (const p of PRODUCTS) {
  const one = median(times.get(`${label(p)}|1`) ?? []) * 1000;
  const two = median(times.get(`${label(p)}|2`) ?? []) * 1000;
  console.log(
    `${label(p).padEnd(26)} ${one.toFixed(0).padStart(6)} ${two.toFixed(0).padStart(6)}  ${(one / two).toFixed(2)}x`,
  );
}
process.exit(0);
