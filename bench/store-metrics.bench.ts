/**
 * Run library write speed: logging every step of a 200-epoch run
 * (80,000 steps x 8 keys = 640,000 rows) into a fresh library through a
 * RunRecorder (batched transactions), and what that logging costs a
 * training loop: the same simulated loop (fixed busy work per step) with
 * logging off and on, alternated in one process, median of REPEATS.
 * Also: the longest single flush (the longest pause logging can cause), the
 * event path (recorder.record of step events), the comparison query on the
 * finished run, and the file size.
 * Run: npm run bench:store   (STEPS=20000 LOOP_STEPS=2000 for a quicker look;
 * WORK_US=100 for a loop ten times faster than any real training step)
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StepEvent } from "../core/engine/events.js";
import { testSpec } from "../core/store/fixtures.js";
import { RunStore } from "../core/store/store.js";

const STEPS = Number(process.env.STEPS ?? 80_000);
const KEYS = [
  "loss",
  "lr",
  "batchSize",
  "delta",
  "gradNorm",
  "throughput",
  "samplesPerSec",
  "gradVar",
];
const REPEATS = Number(process.env.REPEATS ?? 3);
/**
 * The simulated training loop: steps and busy work per step (microseconds).
 * 1 ms is faster than any real step here (an MLP on wasm takes ~35 ms at batch 128).
 */
const LOOP_STEPS = Number(process.env.LOOP_STEPS ?? 10_000);
const WORK_US = Number(process.env.WORK_US ?? 1000);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

let sink = 0;
/** A fixed amount of arithmetic (the stand-in for a training step: fixed work, not fixed time). */
function work(iterations: number): void {
  let x = 0;
  for (let i = 0; i < iterations; i++) x += Math.sqrt(i + x);
  sink += x;
}

/** Iterations of work() that take about `us` microseconds here. */
function calibrate(us: number): number {
  let n = 10_000;
  for (;;) {
    let ms = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      work(n);
      ms = Math.min(ms, performance.now() - t0);
    }
    if (ms > 50) return Math.max(1, Math.round((n * us) / 1000 / ms));
    n *= 2;
  }
}

function values(step: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let k = 0; k < KEYS.length; k++) out[KEYS[k] as string] = Math.sin(step + k);
  return out;
}

function trainLoop(store: RunStore | null): {
  seconds: number;
  logSeconds: number;
  maxFlushMs: number;
  rows: number;
} {
  let rec = null;
  let maxFlushMs = 0;
  let logMs = 0;
  if (store) {
    const run = store.createRun(testSpec());
    rec = store.recorder(run.id, { heartbeatMs: 0 });
  }
  const t0 = performance.now();
  for (let step = 0; step < LOOP_STEPS; step++) {
    work(ITERATIONS);
    if (rec) {
      const f0 = performance.now();
      const before = rec.committedRows;
      rec.log(values(step), { step, epoch: Math.floor(step / 400), samples: step * 128 });
      const ms = performance.now() - f0;
      logMs += ms;
      if (rec.committedRows !== before) maxFlushMs = Math.max(maxFlushMs, ms);
    }
  }
  rec?.close();
  return {
    seconds: (performance.now() - t0) / 1000,
    logSeconds: logMs / 1000,
    maxFlushMs,
    rows: rec ? rec.committedRows : 0,
  };
}

const home = mkdtempSync(join(tmpdir(), "bench-store-"));
const store = RunStore.open(home);
console.log(
  `run library write benchmark: ${STEPS} steps x ${KEYS.length} keys; Node ${process.version}`,
);

// 1. Raw logging rate: nothing but logging.
{
  const run = store.createRun(testSpec());
  let maxFlushMs = 0;
  const rec = store.recorder(run.id, { heartbeatMs: 0 });
  const t0 = performance.now();
  for (let step = 0; step < STEPS; step++) {
    const f0 = performance.now();
    const before = rec.committedRows;
    rec.log(values(step), { step, epoch: Math.floor(step / 400), samples: step * 128 });
    if (rec.committedRows !== before) maxFlushMs = Math.max(maxFlushMs, performance.now() - f0);
  }
  rec.close();
  const s = (performance.now() - t0) / 1000;
  const rows = STEPS * KEYS.length;
  console.log(
    `log(): ${rows} rows in ${s.toFixed(2)} s = ${Math.round(rows / s).toLocaleString("en")} rows/s; longest flush ${maxFlushMs.toFixed(1)} ms`,
  );

  // Comparison query on the finished run.
  for (const x of ["step", "wallTime"] as const) {
    const q0 = performance.now();
    const series = store.queryMetrics({ runIds: [run.id], keys: KEYS, x, maxPoints: 1000 });
    const ms = performance.now() - q0;
    const points = series.reduce((n, s) => n + s.xs.length, 0);
    console.log(
      `queryMetrics ${KEYS.length} keys x ${STEPS} points -> ${points} points (x = ${x}): ${ms.toFixed(0)} ms`,
    );
  }
  const b0 = performance.now();
  for (const k of KEYS) store.bestAndFinal(run.id, k);
  console.log(`bestAndFinal for ${KEYS.length} keys: ${(performance.now() - b0).toFixed(0)} ms`);
}

// 2. The event path: step events (6 keys each) through record().
{
  const run = store.createRun(testSpec());
  const rec = store.recorder(run.id, { heartbeatMs: 0 });
  const t0 = performance.now();
  for (let step = 0; step < STEPS; step++) {
    const e: StepEvent = {
      type: "step",
      step,
      epoch: Math.floor(step / 400),
      loss: Math.sin(step),
      lr: 0.1,
      batchSize: 128,
      delta: 0.01,
      deltaMethod: "relative",
      gradNorm: 1,
      samples: (step + 1) * 128,
      throughput: 5000,
    };
    rec.record(e);
  }
  rec.close();
  const s = (performance.now() - t0) / 1000;
  console.log(
    `record(step event): ${STEPS} events (${STEPS * 6} rows) in ${s.toFixed(2)} s = ${((s / STEPS) * 1e6).toFixed(1)} us/event`,
  );
}

// 3. Training slowdown: the same loop with logging off and on, alternated.
const ITERATIONS = calibrate(WORK_US);
const off: number[] = [];
const on: number[] = [];
const inLog: number[] = [];
let worstFlush = 0;
for (let r = 0; r < REPEATS; r++) {
  off.push(trainLoop(null).seconds);
  const withLog = trainLoop(store);
  on.push(withLog.seconds);
  inLog.push(withLog.logSeconds);
  worstFlush = Math.max(worstFlush, withLog.maxFlushMs);
}
const mOff = median(off);
const mOn = median(on);
const mLog = median(inLog);
// Measured directly: the time the loop spent inside log() (flushes included). Steadier than
// the difference of two loop times on a busy machine.
const stepUs = (mOff / LOOP_STEPS) * 1e6;
console.log(
  `simulated training: ${LOOP_STEPS} steps of ${stepUs.toFixed(0)} us of work (asked ${WORK_US}), ${KEYS.length} keys logged per step, median of ${REPEATS}`,
);
console.log(
  `  logging cost measured inside the loop: ${((mLog / LOOP_STEPS) * 1e6).toFixed(1)} us/step = ${((mLog / LOOP_STEPS / (mOff / LOOP_STEPS)) * 100).toFixed(1)}% of a step; longest flush ${worstFlush.toFixed(1)} ms`,
);
console.log(
  `  loop time logging off ${mOff.toFixed(2)} s, on ${mOn.toFixed(2)} s: slowdown ${(((mOn - mOff) / mOff) * 100).toFixed(1)}% (${(((mOn - mOff) / LOOP_STEPS) * 1e6).toFixed(1)} us/step)`,
);
store.close();
const size = statSync(join(home, "library.db")).size;
const totalRows = (STEPS + LOOP_STEPS * REPEATS) * KEYS.length + STEPS * 6;
console.log(
  `library file: ${(size / 1e6).toFixed(1)} MB for ${2 + REPEATS} runs, ${totalRows} rows (${(size / totalRows).toFixed(1)} bytes/row)`,
);
rmSync(home, { recursive: true, force: true });
if (sink === 42) console.log("");
