/**
 * Schedule compiler speed: a 200-epoch per-step schedule for N = 50,000 with
 * batch 128 (78,200 steps). Target: well under 50 ms.
 * Baseline, in the same process: a bare loop that fills arrays of the same
 * length with a cosine (the least work a per-step compile can do).
 * Run: npm run bench:schedule
 */
import { compileSchedule, findPreset, type ScheduleInput } from "../core/schedule/index.js";

const N = 50_000;
const RUNS = 30;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function time(fn: () => unknown): { cold: number; warm: number } {
  let t0 = performance.now();
  fn();
  const cold = performance.now() - t0;
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    t0 = performance.now();
    fn();
    runs.push(performance.now() - t0);
  }
  return { cold, warm: median(runs) };
}

function baseline(steps: number) {
  const lr = new Float64Array(steps);
  const delta = new Float64Array(steps);
  const batch = new Int32Array(steps);
  for (let k = 0; k < steps; k++) {
    lr[k] = 0.05 * (1 + Math.cos((Math.PI * k) / steps));
    batch[k] = 128;
    delta[k] = (lr[k] as number) / Math.sqrt(128);
  }
  return lr;
}

const cases: [string, ScheduleInput][] = [
  ["cosine per step", { ...(findPreset("cosine")?.schedule as ScheduleInput), per: "step" }],
  ["warmup-cosine per step", findPreset("warmup-cosine")?.schedule as ScheduleInput],
  [
    "paper-lr-decay per step",
    { ...(findPreset("paper-lr-decay")?.schedule as ScheduleInput), per: "step" },
  ],
  [
    "poly-delta-0.5 per step",
    { ...(findPreset("poly-delta-0.5")?.schedule as ScheduleInput), per: "step" },
  ],
];

const base = time(() => baseline(78_200));
console.log(
  `schedule compile bench  node ${process.version}  ${new Date().toISOString().slice(0, 10)}`,
);
console.log(`baseline fill of 78,200 steps: ${base.warm.toFixed(2)} ms (median of ${RUNS})`);
console.log("case                         steps   cold ms   warm ms   x baseline");
for (const [name, schedule] of cases) {
  let steps = 0;
  const t = time(() => {
    steps = compileSchedule(schedule, { datasetSize: N }).totals.updates;
  });
  console.log(
    `${name.padEnd(27)} ${String(steps).padStart(6)} ${t.cold.toFixed(2).padStart(9)} ${t.warm.toFixed(2).padStart(9)} ${(t.warm / base.warm).toFixed(1).padStart(11)}`,
  );
}
