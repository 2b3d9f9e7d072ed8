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
 * is images over the time spent in steps. A window is Python's wall time
 * from the end of one report to the end of the next: pause/stop checks,
 * the batch gather (index, normalise, augment when the run augments, to the
 * device), forward, backward, the metrics (loss, squared gradient norm,
 * correct count, the quarter-batch gradient for C every noiseEvery steps),
 * the update, and the one read-back and message per window. Not in it:
 * evaluation and checkpoints between epochs, the Node side's work (another
 * process: events, the next epoch's order), start-up. The bare loop has
 * none of those either. The first windows (>= warmup steps) are warm-up.
 *
 * The worker also writes where each window's time went (python/
 * sgd_studio_torch/phases.py, through SGD_STUDIO_TORCH_PHASES) and its CPU
 * time: the bench prints the breakdown, and CPU ms/step beside the bare
 * loop's (a neighbour on a shared machine stretches wall time, hardly CPU time).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  /** CPU time of the Python process per timed step (all its threads). */
  cpuMsPerStep?: number;
  /** Wall ms per timed step in each part of the loop (phases.py's names). */
  phases?: Record<PhaseName, number>;
}

export const PHASE_NAMES = ["control", "data", "step", "report"] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];
/** One line of the phases file (python/sgd_studio_torch/phases.py). */
interface PhaseWindow {
  first: number;
  steps: number;
  images: number;
  wall: number;
  cpu: number;
  phases: Record<PhaseName, number>;
}

/** CPU ms and each phase's wall ms per step over the windows of steps first..last. */
export function phaseSummary(
  lines: PhaseWindow[],
  first: number,
  last: number,
): { cpuMsPerStep: number; phases: Record<PhaseName, number> } | undefined {
  const timed = lines.filter((w) => w.first >= first && w.first <= last);
  const steps = timed.reduce((n, w) => n + w.steps, 0);
  if (steps === 0) return undefined;
  const per = (f: (w: PhaseWindow) => number) =>
    (1000 * timed.reduce((t, w) => t + f(w), 0)) / steps;
  return {
    cpuMsPerStep: per((w) => w.cpu),
    phases: Object.fromEntries(PHASE_NAMES.map((p) => [p, per((w) => w.phases[p] ?? 0)])) as Record<
      PhaseName,
      number
    >,
  };
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

/**
 * The warm-up and timed steps the engine actually runs for --warmup and --steps: whole
 * 10-step windows, at least 3 timed. The bench gives the bare loop the same counts, so
 * neither figure has colder steps in it than the other.
 */
export function engineStepCounts(warmup: number, steps: number): { warmup: number; steps: number } {
  return {
    warmup: Math.ceil(warmup / WINDOW) * WINDOW,
    steps: Math.max(WINDOW * 3, Math.ceil(steps / WINDOW) * WINDOW),
  };
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
  const { warmup: skip, steps: timedSteps } = engineStepCounts(o.warmup, o.steps);
  const want = skip + timedSteps;
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
  // The worker process inherits this environment, and its Python process in turn.
  const phaseDir = mkdtempSync(join(tmpdir(), "torch-engine-phases-"));
  const phaseFile = join(phaseDir, "phases.jsonl");
  const before = process.env.SGD_STUDIO_TORCH_PHASES;
  process.env.SGD_STUDIO_TORCH_PHASES = phaseFile;
  try {
    handle = startTraining(spec, { onEvent });
  } finally {
    if (before === undefined) delete process.env.SGD_STUDIO_TORCH_PHASES;
    else process.env.SGD_STUDIO_TORCH_PHASES = before;
  }
  let lines: PhaseWindow[] = [];
  try {
    await handle.done;
    if (existsSync(phaseFile)) {
      lines = readFileSync(phaseFile, "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as PhaseWindow);
    }
  } finally {
    rmSync(phaseDir, { recursive: true, force: true });
  }
  const timed = steps.slice(skip).filter((s) => s.throughput > 0);
  if (timed.length === 0) throw new Error(`the torch engine ran ${steps.length} steps, none timed`);
  const phases = phaseSummary(lines, timed[0]?.step ?? 0, timed.at(-1)?.step ?? 0);
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
    ...phases,
  };
}
