/**
 * Test accuracy after a fixed number of epochs on the full Fashion-MNIST
 * (Debian's dataset-fashion-mnist: 60,000 train / 10,000 test).
 * Targets (issue 3): mlp >= 0.88, cnn >= 0.91 (published: MLP 256-128-100
 * 0.883; 2 conv + pooling up to 0.916).
 * Run: npm run bench:accuracy -- --model mlp --epochs 15 [--backend wasm] [--optimizer momentum]
 */
import type { OptimizerSpec } from "../core/engine/optimizers.js";
import { Trainer } from "../core/engine/trainer.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const model = arg("model", "mlp");
const epochs = Number(arg("epochs", "15"));
const lr = Number(arg("lr", "0.05"));
const batch = Number(arg("batch", "128"));
const optimizer = arg("optimizer", "momentum") as OptimizerSpec["kind"];
const backend = process.argv.includes("--backend") ? arg("backend", "") : undefined;

console.log(
  `fashion-mnist accuracy bench  ${new Date().toISOString().slice(0, 10)}  ${model}, ${epochs} epochs, ${optimizer} lr ${lr} cosine, batch ${batch}`,
);
const t0 = performance.now();
const trainer = new Trainer(
  {
    dataset: "fashion-mnist",
    model,
    backend,
    seed: 1,
    noiseEvery: 0,
    optimizer: { kind: optimizer },
    schedule: {
      version: 1,
      epochs,
      per: "step",
      lr: { kind: "cosine", lr, tMax: epochs },
      batch: { kind: "constant", size: batch },
    },
  },
  (e) => {
    if (e.type === "start")
      console.log(`${e.backendSummary}; ${e.dataset.train} train / ${e.dataset.test} test`);
    if (e.type === "epoch") {
      console.log(
        `epoch ${e.epoch + 1}: train loss ${e.trainLoss.toFixed(4)} acc ${e.trainAccuracy.toFixed(4)} | test acc ${e.testAccuracy.toFixed(4)} | ${e.wallTime.toFixed(0)} s`,
      );
    }
  },
);
const summary = await trainer.run();
console.log(
  `final test accuracy ${summary.testAccuracy?.toFixed(4)} (best ${summary.bestTestAccuracy?.toFixed(4)} at epoch ${(summary.bestEpoch ?? 0) + 1}) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
);
