/**
 * The torch engine as a product (bench/speed.bench.ts's "torch engine"
 * rows): a real run through the training worker (startTraining, the process
 * every host launches), data pipeline included (the dataset on the device,
 * each batch gathered, augmented when the run augments, normalised), the
 * per-step scalars read back every 10 steps, C estimated every 50 steps:
 * what a user gets, beside bench/torch_speed.py's bare loop on the same
 * device and thread count.
 *
 * img/s comes from the step events: each carries its 10-step window's
 * throughput, so sum(batch) / sum(batch / throughput) over the timed steps
 * is images over the time spent in steps (evaluation between epochs is
 * not counted, as the bare loop has none). The first windows (>= warmup
 * steps) are warm-up.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StepEvent, TorchInfo, TrainEvent, TrainSpecInput } from "../core/api/index.js";
import type { TorchOptions } from "../core/api/spec.js";
import { encodeDatasetFile } from "../core/data/dataset-file.js";
import { startTraining } from "../core/engine/worker-client.js";

export interface EngineTiming {
  imgPerSec: number;
  msPerStep: number;
  medianMsPerStep: number;
  firstStepMs: number;
  steps: number;
  warmupSteps: number;
  stoppedByTime: boolean;
  torch: TorchInfo | undefined;
}

const WINDOW = 10;

/** A random CIFAR-shaped dataset file (resnet18 needs 32x32x3; no CIFAR download here). */
export function syntheticCifarFile(
  train: number,
  test = 512,
): { file: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "torch-engine-bench-"));
  const size = 32 * 32 * 3;
  const bytes = (n: number) => {
    const a = new Uint8Array(n * size);
    let s = 12345;
    for (let i = 0; i < a.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      a[i] = s >>> 24;
    }
    return a;
  };
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);
  const file = join(dir, "synthetic-cifar.sgdds.gz");
  writeFileSync(
    file,
    encodeDatasetFile({
      name: "synthetic-cifar",
      classes: Array.from({ length: 10 }, (_, i) => `class ${i}`),
      shape: [32, 32, 3],
      description: "random pixels for speed measurements",
      train: { images: bytes(train), labels: labels(train), count: train },
      test: { images: bytes(test), labels: labels(test), count: test },
    }),
  );
  return { file, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function measureTorchEngine(o: {
  model: string;
  dataset: string;
  trainCount: number;
  batch: number;
  steps: number;
  warmup: number;
  maxSeconds: number;
  options: Partial<TorchOptions>;
}): Promise<EngineTiming> {
  const skip = Math.ceil(o.warmup / WINDOW) * WINDOW;
  const want = skip + Math.max(WINDOW * 3, Math.ceil(o.steps / WINDOW) * WINDOW);
  const perEpoch = Math.floor(o.trainCount / o.batch);
  const epochs = Math.max(1, Math.ceil(want / perEpoch));
  const spec: TrainSpecInput = {
    dataset: o.dataset,
    model: o.model,
    backend: "torch",
    seed: 0,
    epochs,
    testLimit: 500,
    augment: false,
    schedule: {
      version: 1,
      epochs,
      lr: { kind: "constant", lr: 0.01 },
      batch: { kind: "constant", size: o.batch },
    },
    torch: o.options as TorchOptions,
  };
  const steps: StepEvent[] = [];
  let torch: TorchInfo | undefined;
  let started = 0;
  let firstStepMs = 0;
  let stoppedByTime = false;
  let handle: ReturnType<typeof startTraining> | undefined;
  const onEvent = (e: TrainEvent) => {
    if (e.type === "start") {
      torch = e.torch;
      started = performance.now();
    } else if (e.type === "step") {
      if (steps.length === 0) firstStepMs = performance.now() - started;
      steps.push(e);
      const timed = steps.length - skip;
      if (timed >= want - skip && timed % WINDOW === 0) handle?.stop();
      else if (timed > 0 && (performance.now() - started) / 1000 > o.maxSeconds + 30) {
        stoppedByTime = true;
        handle?.stop();
      }
    }
  };
  handle = startTraining(spec, { onEvent });
  await handle.done;
  const timed = steps.slice(skip).filter((s) => s.throughput > 0);
  if (timed.length === 0) throw new Error(`the torch engine ran ${steps.length} steps, none timed`);
  const images = timed.reduce((n, s) => n + s.batchSize, 0);
  const seconds = timed.reduce((t, s) => t + s.batchSize / s.throughput, 0);
  const perStep = timed.map((s) => (1000 * s.batchSize) / s.throughput).sort((a, b) => a - b);
  return {
    imgPerSec: images / seconds,
    msPerStep: (1000 * seconds) / timed.length,
    medianMsPerStep: perStep[Math.floor(perStep.length / 2)] as number,
    firstStepMs,
    steps: timed.length,
    warmupSteps: skip,
    stoppedByTime,
    torch,
  };
}
