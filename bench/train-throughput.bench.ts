/**
 * Training throughput (images/s) for mlp and cnn on every backend that loads
 * here, measured through the real Trainer (data preparation included), on the
 * embedded Fashion-MNIST subset. Baseline in the same process: the pure-JS cpu
 * backend, so each figure is also printed as a ratio to it.
 * Run: npm run bench:train [-- --steps 40 --backends cpu,wasm,webgpu --models mlp,cnn]
 */
import { probeBackends } from "../core/engine/backends.js";
import type { StepEvent } from "../core/engine/events.js";
import { Trainer } from "../core/engine/trainer.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const steps = Number(arg("steps", "30"));
const batch = Number(arg("batch", "128"));
const models = arg("models", "mlp,cnn").split(",");
const probes = await probeBackends();
const available = probes.filter((p) => p.available).map((p) => p.name as string);
const backends = arg("backends", available.join(","))
  .split(",")
  .filter((b) => available.includes(b));

async function measure(model: string, backend: string): Promise<number> {
  const rates: number[] = [];
  const trainer = new Trainer(
    {
      dataset: "default",
      model,
      backend,
      seed: 0,
      noiseEvery: 0,
      trainLimit: batch * steps,
      testLimit: 100,
      schedule: {
        version: 1,
        epochs: 1,
        lr: { kind: "constant", lr: 0.05 },
        batch: { kind: "constant", size: batch },
      },
    },
    (e) => {
      // Each step event carries the rate of its 10-step window; skip the first window (warm-up).
      if (e.type === "step" && e.step >= 10 && e.step % 10 === 0)
        rates.push((e as StepEvent).throughput);
    },
  );
  await trainer.run();
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] ?? Number.NaN;
}

console.log(
  `train throughput bench  ${new Date().toISOString().slice(0, 10)}  node ${process.version}  batch ${batch}, ${steps} steps`,
);
console.log(`backends here: ${available.join(", ")}`);
console.log("model  backend          img/s   x cpu");
for (const model of models) {
  let cpuRate = Number.NaN;
  for (const backend of backends.includes("cpu")
    ? ["cpu", ...backends.filter((b) => b !== "cpu")]
    : backends) {
    const rate = await measure(model, backend);
    if (backend === "cpu") cpuRate = rate;
    console.log(
      `${model.padEnd(6)} ${backend.padEnd(14)} ${rate.toFixed(0).padStart(7)} ${(rate / cpuRate).toFixed(1).padStart(7)}`,
    );
  }
}
