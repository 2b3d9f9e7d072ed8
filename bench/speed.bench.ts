/**
 * Training-step throughput (img/s) of mlp, cnn and resnet18 on every
 * TensorFlow.js backend here and, in the same run, of the same models in
 * PyTorch (bench/torch_speed.py), with the ratio PyTorch / best tfjs backend
 * of the same device class: how far tfjs is from what the hardware can do.
 *
 * The tfjs step is core/engine/step.ts's trainStep (SGD, lr 0.01) on
 * synthetic data, one `await loss.data()` per step so each step waits for the
 * device (the Trainer reads once per 10 steps); torch_speed.py mirrors that step.
 * Device classes: GPU = torch cuda vs tfjs tensorflow-gpu / webgpu on a
 * hardware adapter; CPU = torch cpu vs tfjs tensorflow / wasm / cpu, and
 * webgpu on a software adapter (lavapipe runs on the CPU).
 *
 * Threads: every CPU row says how many threads it ran on. `--wasm-threads 1,2`
 * measures the wasm backend at each count in the same run (each its own
 * row), `--torch-threads 1,2` likewise for torch cpu; the report then gives
 * wasm's speedup over its one-thread figure and torch / wasm at equal thread
 * counts.
 *
 * Run: npm run bench:speed -- [--models mlp,cnn,resnet18] [--backends auto|wasm,webgpu,...]
 *        [--batch 128] [--steps 20] [--warmup 3] [--max-seconds 60] [--slow]
 *        [--wasm-threads auto|1,2,...] [--torch auto|off|cpu|cuda|cpu,cuda] [--python python3]
 *        [--torch-threads N|1,2,...] [--precisions fp32,bf16-cl] [--engine auto|off]
 *        [--engine-models mlp,cnn] [--json]
 *
 * The torch engine (backend "torch", core/engine/torch) is measured as a
 * product too (bench/torch-engine.ts: a real run through the training worker,
 * data pipeline included), beside the bare loop at the same device, thread
 * count, precision and step counts; the report gives engine / bare (target
 * >= 0.9) for the median rounds and paired per round (each round runs the
 * bare loop, then the engine), CPU ms per step of both, the bare loop also
 * with the engine's malloc settings (--bare-malloc), and where an engine
 * step's wall time goes (python/sgd_studio_torch/phases.py).
 * On a GPU machine without npm: node --import tsx bench/speed.bench.ts ...
 */
import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import {
  BACKEND_LADDER,
  type BackendName,
  type BackendProbe,
  isBackendName,
  probeBackends,
  selectBackend,
} from "../core/engine/backends.js";
import { Optimizer } from "../core/engine/optimizers.js";
import { trainStep } from "../core/engine/step.js";
import { TRAINING_MALLOC_ENV } from "../core/engine/torch/python.js";
import { wasmThreadsState } from "../core/engine/wasm-threads.js";
import type { AdapterSummary } from "../core/engine/webgpu-node.js";
import { createModel, DEFAULT_INPUT_SHAPE } from "../core/models/index.js";

const execFileP = promisify(execFile);

/** The models torch_speed.py also builds. */
const MODELS = ["mlp", "cnn", "resnet18"] as const;
type Model = (typeof MODELS)[number];
type DeviceClass = "cpu" | "gpu";
const NUM_CLASSES = 10;
const TORCH_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "torch_speed.py");

const USAGE = `Usage: tsx bench/speed.bench.ts [options]
  --models mlp,cnn,resnet18    models (default all three)
  --backends auto|LIST         tfjs backends: auto = every available one (software WebGPU included),
                               or a list of ${BACKEND_LADDER.join(", ")}
  --batch 128 --steps 20 --warmup 3
  --repeat R                   measure everything R times, interleaved, and report each figure's
                               median round (a machine shared with other jobs)
  --max-seconds 60             stop warm-up, and separately timing, of one measurement after this
  --slow                       also run the pure-JS cpu backend on cnn and resnet18 (minutes per step)
  --wasm-threads auto|LIST     wasm backend threads: auto = the machine's default (physical cores
                               less one; SGD_STUDIO_WASM_THREADS), or a list (1,2) measured in turn
  --torch auto|off|cpu|cuda|cpu,cuda
                               auto: every device PyTorch has, none if it is missing
  --python python3             interpreter with torch (default: python3, then /usr/bin/python3)
  --torch-threads N|LIST       torch CPU threads (default: all cores); a list (1,2) runs torch per count
  --precisions fp32[,bf16-cl]  torch precisions (bare loop and engine): fp32, and bf16 autocast with
                               channels-last (bf16-cl)
  --engine auto|off            the torch engine through the real training worker (auto: with torch)
  --engine-models LIST         models for the engine (default mlp,cnn on CPU, plus resnet18 on CUDA;
                               resnet18 trains on a synthetic 32x32x3 dataset)
  --bare-malloc plain|engine|both
                               torch cpu bare loop with glibc's default malloc (plain: what a user's
                               script gets), with the engine's malloc settings (engine:
                               TRAINING_MALLOC_ENV, core/engine/torch/python.ts), or both (default)
  --json                       print one JSON object with every figure at the end`;

function fail(message: string): never {
  console.error(`speed.bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      models: { type: "string", default: MODELS.join(",") },
      backends: { type: "string", default: "auto" },
      batch: { type: "string", default: "128" },
      steps: { type: "string", default: "20" },
      warmup: { type: "string", default: "3" },
      repeat: { type: "string", default: "1" },
      "max-seconds": { type: "string", default: "60" },
      slow: { type: "boolean", default: false },
      torch: { type: "string", default: "auto" },
      python: { type: "string" },
      "torch-threads": { type: "string", default: "0" },
      "wasm-threads": { type: "string", default: "auto" },
      precisions: { type: "string", default: "fp32" },
      engine: { type: "string", default: "auto" },
      "engine-models": { type: "string" },
      "bare-malloc": { type: "string", default: "both" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
}
try {
  parsed = parse();
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}
const opts = parsed.values;
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

function count(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) fail(`--${name} must be a number >= ${min}, got "${text}"`);
  return n;
}
const batch = Math.floor(count("batch", opts.batch, 1));
const steps = Math.floor(count("steps", opts.steps, 1));
const warmup = Math.floor(count("warmup", opts.warmup, 1));
const repeat = Math.floor(count("repeat", opts.repeat, 1));
const maxSeconds = count("max-seconds", opts["max-seconds"], 0.001);
/** A comma-separated list of counts (each >= min). */
function counts(name: string, text: string, min: number): number[] {
  const list = text.split(",").filter(Boolean);
  if (!list.length) fail(`--${name} needs at least one number`);
  return list.map((t) => {
    const n = count(name, t, min);
    if (!Number.isInteger(n)) fail(`--${name} takes whole numbers, got "${t}"`);
    return n;
  });
}
/** 0 = torch's default (all cores). */
const torchThreadList = counts("torch-threads", opts["torch-threads"], 0);
/** null = the machine's default (wasm-threads.ts's auto, or SGD_STUDIO_WASM_THREADS). */
const wasmThreadList: (number | null)[] =
  opts["wasm-threads"] === "auto" ? [null] : counts("wasm-threads", opts["wasm-threads"], 1);

const models = opts.models.split(",").filter(Boolean);
for (const m of models) {
  if (!(MODELS as readonly string[]).includes(m))
    fail(`unknown model "${m}" (models: ${MODELS.join(", ")})`);
}
const modelList = models as Model[];

/* ----------------------------------------------------------- measuring */

interface Timing {
  imgPerSec: number;
  /** Mean over the timed steps (what img/s is computed from). */
  msPerStep: number;
  /** Robust to a neighbour stealing the cores for a moment. */
  medianMsPerStep: number;
  /** Includes kernel compilation / autotuning. */
  firstStepMs: number;
  steps: number;
  warmupSteps: number;
  /** --max-seconds ended the timing before --steps. */
  stoppedByTime: boolean;
}

/** Warm-up then timing, each bounded by --max-seconds (at least one step each). */
async function timeSteps(step: () => Promise<void>): Promise<Timing> {
  const maxMs = maxSeconds * 1000;
  const t0 = performance.now();
  await step();
  const firstStepMs = performance.now() - t0;
  let warmupSteps = 1;
  while (warmupSteps < warmup && performance.now() - t0 < maxMs) {
    await step();
    warmupSteps++;
  }
  const times: number[] = [];
  const start = performance.now();
  while (times.length < steps) {
    const s = performance.now();
    await step();
    times.push(performance.now() - s);
    if (performance.now() - start >= maxMs) break;
  }
  const total = performance.now() - start;
  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median =
    sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return {
    imgPerSec: (1000 * batch * times.length) / total,
    msPerStep: total / times.length,
    medianMsPerStep: median,
    firstStepMs,
    steps: times.length,
    warmupSteps,
    stoppedByTime: times.length < steps,
  };
}

/** One model on the active tfjs backend; everything it allocates is disposed. */
async function measureTfjs(name: Model): Promise<Timing> {
  const shape = DEFAULT_INPUT_SHAPE[name];
  const model = createModel(name, { inputShape: shape, numClasses: NUM_CLASSES, seed: 0 });
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new Optimizer({ kind: "sgd" }, variables);
  const m = { model, variables, optimizer, numClasses: NUM_CLASSES };
  const xShape: number[] = [batch, ...shape];
  const x = tf.randomNormal<tf.Rank>(xShape, 0, 1, "float32", 1) as tf.Tensor4D;
  const labels = Int32Array.from({ length: batch }, (_, i) => i % NUM_CLASSES);
  try {
    return await timeSteps(async () => {
      const r = trainStep(m, x, labels, 0.01, false);
      try {
        // One read per step: on webgpu it waits for the queue, so the time is real.
        await r.loss.data();
      } finally {
        tf.dispose([r.loss, r.gradNormSq, r.correct]);
      }
    });
  } finally {
    optimizer.dispose();
    model.dispose();
    x.dispose();
  }
}

/* ---------------------------------------------------------------- rows */

interface Row extends Timing {
  /** "torch engine": backend "torch" through the real worker (bench/torch-engine.ts). */
  engine: "tfjs" | "torch" | "torch engine";
  /** tfjs backend name, or the torch device (cpu / cuda). */
  backend: string;
  model: Model;
  deviceClass: DeviceClass;
  /** Adapter / GPU / CPU the figure is for. */
  device: string;
  /** CPU threads it ran on (wasm, pure JS, torch cpu); absent for GPU engines and libtensorflow. */
  threads?: number;
  batch: number;
  /** --repeat: its round (a round's bare torch and torch engine rows ran one after the other). */
  round?: number;
  /** torch rows: the Python process's CPU time per timed step (all its threads). */
  cpuMsPerStep?: number;
  /** torch engine: wall ms per step in each part of its loop (bench/torch-engine.ts). */
  phases?: Record<string, number>;
  /** imgPerSec over the model's baseline row. */
  vsBaseline?: number;
  baseline?: string;
}

interface Skip {
  engine: "tfjs" | "torch";
  backend: string;
  model?: Model;
  reason: string;
  /** True when something asked for could not run (the exit code is then 1). */
  failure: boolean;
}

const rows: Row[] = [];
const skipped: Skip[] = [];
const backendInfo: Record<
  string,
  { deviceClass: DeviceClass; device: string; threads?: number; probe?: unknown }
> = {};

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const cpuName = os.cpus()[0]?.model.trim() ?? os.arch();
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const progress = (text: string) => console.error(`[speed] ${text}`);

/** Where a tfjs backend computes, from its probe. */
function classify(probe: BackendProbe | undefined, name: BackendName): [DeviceClass, string] {
  const d = probe?.details ?? {};
  switch (name) {
    case "webgpu": {
      const a = d.adapter as AdapterSummary | undefined;
      const what = a ? a.description || `${a.vendor} ${a.device}`.trim() : "WebGPU adapter";
      return a?.software ? ["cpu", `${what} (software adapter)`] : ["gpu", what];
    }
    case "tensorflow-gpu": {
      const gpus = (d.gpuDevices as { name: string }[] | undefined) ?? [];
      return ["gpu", gpus.map((g) => g.name).join(", ") || "CUDA GPU"];
    }
    case "wasm": {
      const { active } = wasmThreadsState();
      const n = active ?? 1;
      return [
        "cpu",
        `${cpuName}, ${d.simd ? "SIMD" : "no SIMD"}, ${n} thread${n === 1 ? "" : "s"}`,
      ];
    }
    case "tensorflow":
      return ["cpu", `${cpuName}, libtensorflow`];
    case "cpu":
      return ["cpu", `${cpuName}, pure JS, 1 thread`];
    case "torch":
      return ["cpu", "the torch engine (measured in its own rows)"];
  }
}

/* ------------------------------------------------------- tfjs backends */

const probes: BackendProbe[] = [];
let plan: BackendName[];
if (opts.backends === "auto") {
  probes.push(...(await probeBackends()));
  for (const p of probes.filter((q) => !q.available)) {
    skipped.push({
      engine: "tfjs",
      backend: p.name,
      reason: p.reason ?? "not available",
      failure: false,
    });
  }
  // The torch engine is not a tfjs backend: it has its own rows (--engine).
  const names = probes.filter((p) => p.available && p.name !== "torch").map((p) => p.name);
  // Both tfjs-node packages register "tensorflow": only one can load per process.
  if (names.includes("tensorflow-gpu") && names.includes("tensorflow")) {
    names.splice(names.indexOf("tensorflow"), 1);
    skipped.push({
      engine: "tfjs",
      backend: "tensorflow",
      reason: "tensorflow-gpu is measured instead (one tfjs-node package per process)",
      failure: false,
    });
  }
  // Slowest first, so the baseline of the x column is printed first.
  plan = names.reverse();
} else {
  const names = opts.backends.split(",").filter(Boolean);
  for (const n of names) {
    if (!isBackendName(n)) fail(`unknown backend "${n}" (backends: ${BACKEND_LADDER.join(", ")})`);
  }
  plan = (names as BackendName[]).filter((n) => n !== "torch");
}

/* --------------------------------------------------------- torch setup */

interface TorchInfo {
  torch: string;
  python: string;
  cuda: boolean;
  cudaDevices: string[];
  cpu: string;
  cores: number;
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}

/** torch_speed.py --info with this interpreter, or why it failed. */
async function torchInfo(python: string): Promise<TorchInfo | string> {
  try {
    const { stdout } = await execFileP(python, [TORCH_SCRIPT, "--info"], { timeout: 120_000 });
    return JSON.parse(lastLine(stdout)) as TorchInfo;
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr;
    return stderr ? lastLine(stderr) : errorText(e);
  }
}

const torchArg = opts.torch;
let torchDevices: ("cpu" | "cuda")[] = [];
let torch: (TorchInfo & { interpreter: string }) | null = null;
const notes: string[] = [];
if (torchArg !== "off") {
  const wanted = torchArg === "auto" ? [] : torchArg.split(",").filter(Boolean);
  for (const d of wanted) {
    if (d !== "cpu" && d !== "cuda") fail(`--torch takes auto, off, cpu, cuda or cpu,cuda`);
  }
  // Debian's python3-torch lives in /usr/bin/python3, which a pyenv or venv
  // python3 on PATH hides; try it when --python is not given.
  const candidates = opts.python ? [opts.python] : ["python3", "/usr/bin/python3"];
  const tried: string[] = [];
  for (const py of candidates) {
    const info = await torchInfo(py);
    if (typeof info !== "string") {
      torch = { ...info, interpreter: py };
      break;
    }
    tried.push(`${py}: ${info}`);
  }
  if (!torch) {
    const why = `no PyTorch (${tried.join("; ")})`;
    if (torchArg !== "auto") {
      console.error(`speed.bench: --torch ${torchArg} asked for, but ${why}`);
      process.exit(1);
    }
    skipped.push({ engine: "torch", backend: "auto", reason: why, failure: false });
  } else {
    if (tried.length) notes.push(`PyTorch from ${torch.interpreter} (${tried.join("; ")})`);
    torchDevices =
      torchArg === "auto"
        ? torch.cuda
          ? ["cpu", "cuda"]
          : ["cpu"]
        : (wanted as ("cpu" | "cuda")[]);
    if (torchDevices.includes("cuda") && !torch.cuda) {
      console.error(
        `speed.bench: --torch cuda asked for, but torch ${torch.torch} (${torch.interpreter}) has no CUDA device`,
      );
      process.exit(1);
    }
  }
}

/* --------------------------------------------------------------- tfjs */

/** "wasm", or "wasm 2t" when wasm is measured at several thread counts. */
const tfjsKey = (name: string, threads?: number) =>
  name === "wasm" && wasmThreadList.length > 1 && threads !== undefined
    ? `${name} ${threads}t`
    : name;

for (let round = 1; round <= repeat; round++) {
  if (repeat > 1) progress(`round ${round} of ${repeat}`);
  for (const name of plan) {
    for (const requested of name === "wasm" ? wasmThreadList : [null]) {
      let probe: BackendProbe | undefined;
      try {
        // Each call activates the backend (tf.setBackend) and registers the kernel overrides
        // again (idempotent); on wasm with another thread count it re-creates the backend.
        const selection = await selectBackend(
          name,
          requested === null ? {} : { wasmThreads: requested },
        );
        probe = selection.probes.find((p) => p.name === name);
        if (opts.backends !== "auto" && probe && !probes.includes(probe)) probes.push(probe);
        progress(selection.summary);
      } catch (e) {
        skipped.push({ engine: "tfjs", backend: name, reason: errorText(e), failure: true });
        progress(`${name}: cannot be selected: ${errorText(e)}`);
        continue;
      }
      const threads =
        name === "wasm" ? (wasmThreadsState().active ?? 1) : name === "cpu" ? 1 : undefined;
      if (name === "wasm" && requested !== null && threads !== requested) {
        const why = wasmThreadsState().note ?? "";
        notes.push(
          `wasm: ${requested} threads asked for, ran on ${threads}${why ? ` (${why})` : ""}`,
        );
      }
      const [deviceClass, device] = classify(probe, name);
      const key = tfjsKey(name, threads);
      backendInfo[key] = { deviceClass, device, ...(threads !== undefined && { threads }) };
      for (const model of modelList) {
        if (name === "cpu" && model !== "mlp" && !opts.slow) {
          skipped.push({
            engine: "tfjs",
            backend: name,
            model,
            reason:
              "pure-JS cpu backend needs minutes per step on conv nets (cnn ~190 s at batch 128); --slow measures it",
            failure: false,
          });
          continue;
        }
        const before = tf.memory().numTensors;
        try {
          progress(`${model} on ${key} ...`);
          const t = await measureTfjs(model);
          rows.push({
            engine: "tfjs",
            backend: name,
            model,
            deviceClass,
            device,
            ...(threads !== undefined && { threads }),
            batch,
            ...t,
          });
          progress(`${model} on ${key}: ${fmt(t.imgPerSec)} img/s (${t.steps} steps)`);
        } catch (e) {
          skipped.push({
            engine: "tfjs",
            backend: name,
            model,
            reason: `failed: ${errorText(e)}`,
            failure: true,
          });
          progress(`${model} on ${key} failed: ${errorText(e)}`);
        }
        const leaked = tf.memory().numTensors - before;
        if (leaked > 0) progress(`${model} on ${key}: ${leaked} tensors left behind`);
      }
    }
  }
}

/* -------------------------------------------------------------- torch */

interface TorchRun {
  torch: string;
  device: "cpu" | "cuda";
  deviceName: string;
  threads: number;
  tf32: boolean;
  step: string;
  results: Partial<Record<Model, Timing>>;
}

const precisions = opts.precisions.split(",").filter(Boolean);
for (const p of precisions) {
  if (p !== "fp32" && p !== "bf16-cl") fail(`--precisions takes fp32 and/or bf16-cl, got ${p}`);
}
/** "cuda", or "cuda bf16+CL": the torch rows' backend column. */
const bareMalloc = opts["bare-malloc"];
if (!["plain", "engine", "both"].includes(bareMalloc)) {
  fail(`--bare-malloc takes plain, engine or both, got ${bareMalloc}`);
}
/** The backend column of a bare torch row run with the engine's malloc settings. */
const ENGINE_MALLOC = "engine-malloc";
const torchBackend = (dev: string, precision: string) =>
  precision === "fp32" ? dev : `${dev} bf16+CL`;
const torchRuns: TorchRun[] = [];
const engineOn = torch !== null && opts.engine !== "off";
const { engineStepCounts, measureTorchEngine, syntheticCifarFile } = await import(
  "./torch-engine.js"
);
if (engineOn) {
  const c = engineStepCounts(warmup, steps);
  notes.push(
    `torch (bare loop and engine): ${c.warmup} warm-up and ${c.steps} timed steps, the engine's whole 10-step report windows`,
  );
}

/** bench/torch_speed.py at one device, thread count and precision: a row per model. */
async function measureBareTorch(
  dev: "cpu" | "cuda",
  torchThreads: number,
  precision: string,
  round: number,
  engineMalloc = false,
): Promise<void> {
  if (!torch) return;
  const backend = `${torchBackend(dev, precision)}${engineMalloc ? ` ${ENGINE_MALLOC}` : ""}`;
  // With the engine measured, the bare loop warms up and times as many steps as the engine
  // (whole windows of 10): the same warmth on both sides of the ratio.
  const counts = engineOn ? engineStepCounts(warmup, steps) : { warmup, steps };
  const args = [
    TORCH_SCRIPT,
    "--models",
    modelList.join(","),
    "--batch",
    String(batch),
    "--steps",
    String(counts.steps),
    "--warmup",
    String(counts.warmup),
    "--max-seconds",
    String(maxSeconds),
    "--device",
    dev,
    "--json",
    ...(torchThreads > 0 ? ["--threads", String(torchThreads)] : []),
    ...(precision === "bf16-cl" ? ["--bf16-cl"] : []),
  ];
  progress(
    `torch ${backend}${torchThreads > 0 ? ` ${torchThreads}t` : ""}: ${modelList.join(", ")} ...`,
  );
  try {
    const { stdout } = await execFileP(torch.interpreter, args, {
      // glibc reads its malloc settings when the process starts.
      env: engineMalloc ? { ...process.env, ...TRAINING_MALLOC_ENV } : process.env,
      maxBuffer: 16 * 2 ** 20,
      // Warm-up and timing are each bounded by --max-seconds; add room for start-up.
      timeout: (modelList.length * (2 * maxSeconds + 60) + 60) * 1000,
    });
    const run = JSON.parse(lastLine(stdout)) as TorchRun;
    torchRuns.push(run);
    const deviceClass: DeviceClass = dev === "cuda" ? "gpu" : "cpu";
    const device = dev === "cuda" ? run.deviceName : `${run.deviceName}, ${run.threads} threads`;
    for (const model of modelList) {
      const t = run.results[model];
      if (!t) continue;
      rows.push({
        engine: "torch",
        backend,
        model,
        deviceClass,
        device,
        ...(dev === "cpu" && { threads: run.threads }),
        batch,
        round,
        ...t,
      });
    }
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr;
    const why = stderr ? lastLine(stderr) : errorText(e);
    skipped.push({ engine: "torch", backend: dev, reason: `failed: ${why}`, failure: true });
    progress(`torch ${dev} failed: ${why}`);
  }
}

/* --------------------------------------------------------- torch engine */

const engineRuns: { device: string; precision: string; threads?: number; torch?: unknown }[] = [];

let cifar: ReturnType<typeof syntheticCifarFile> | null = null;

/** The torch engine through the real training worker: one row for `model`. */
async function measureEngine(
  dev: "cpu" | "cuda",
  torchThreads: number,
  precision: string,
  model: Model,
  round: number,
): Promise<void> {
  // The bare loop's thread count (torch_speed.py: --threads, else every core).
  const threads = dev === "cpu" ? torchThreads || os.availableParallelism() : undefined;
  progress(`torch engine ${torchBackend(dev, precision)} ${model} ...`);
  try {
    const rgb = model === "resnet18";
    if (rgb && !cifar) cifar = syntheticCifarFile(Math.max(4096, batch * 12));
    const t = await measureTorchEngine({
      model,
      dataset: rgb ? (cifar as { file: string }).file : "default",
      trainCount: rgb ? Math.max(4096, batch * 12) : 10_000,
      batch,
      steps,
      warmup,
      maxSeconds,
      options: {
        device: dev,
        ...(threads !== undefined && { threads }),
        ...(precision === "bf16-cl"
          ? { autocast: "bf16", channelsLast: true }
          : { autocast: "off", channelsLast: false }),
      },
    });
    engineRuns.push({ device: dev, precision, threads, torch: t.torch });
    rows.push({
      engine: "torch engine",
      backend: torchBackend(dev, precision),
      model,
      deviceClass: dev === "cuda" ? "gpu" : "cpu",
      device: t.torch?.device ?? dev,
      ...(threads !== undefined && { threads }),
      batch,
      round,
      imgPerSec: t.imgPerSec,
      msPerStep: t.msPerStep,
      medianMsPerStep: t.medianMsPerStep,
      firstStepMs: t.firstStepMs,
      steps: t.steps,
      warmupSteps: t.warmupSteps,
      stoppedByTime: t.stoppedByTime,
      ...(t.cpuMsPerStep !== undefined && { cpuMsPerStep: t.cpuMsPerStep }),
      ...(t.phases && { phases: t.phases }),
    });
  } catch (e) {
    const why = errorText(e);
    skipped.push({
      engine: "torch",
      backend: `engine ${dev}`,
      model,
      reason: `failed: ${why}`,
      failure: true,
    });
    progress(`torch engine ${dev} ${model} failed: ${why}`);
  }
}

// Each round measures the bare loop and then the engine at the same device, threads and
// precision, one right after the other: on a shared machine the load drifts over minutes,
// and the engine / bare ratio is taken per round (the pair that ran side by side).
for (let round = 1; round <= repeat; round++) {
  for (const dev of torchDevices) {
    const engineModels = (
      opts["engine-models"]?.split(",") ??
      (dev === "cuda" ? ["mlp", "cnn", "resnet18"] : ["mlp", "cnn"])
    ).filter((m) => modelList.includes(m as Model)) as Model[];
    // cpu: once per --torch-threads count (0 = torch's default, all cores).
    for (const [torchThreads, precision] of (dev === "cpu" ? torchThreadList : [0]).flatMap((t) =>
      precisions.map((p) => [t, p] as const),
    )) {
      // The engine's allocator settings matter on the CPU only (CUDA memory has its own allocator).
      if (dev === "cuda" || bareMalloc !== "engine") {
        await measureBareTorch(dev, torchThreads, precision, round);
      }
      if (dev === "cpu" && bareMalloc !== "plain") {
        await measureBareTorch(dev, torchThreads, precision, round, true);
      }
      if (!engineOn) continue;
      for (const model of engineModels) {
        await measureEngine(dev, torchThreads, precision, model, round);
      }
    }
  }
}
(cifar as ReturnType<typeof syntheticCifarFile> | null)?.dispose();

/* ------------------------------------------------------------- report */

// --repeat: each figure is the round with the median img/s (all rounds kept in `rounds`).
// The median, not the best: on a shared VM a round can be slowed by a neighbour,
// and also sped up (a host core's other hyperthread going idle).
/** Every round's rows (the engine / bare ratios pair rows of the same round). */
const allRows = [...rows];
if (repeat > 1) {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.engine} ${r.backend} ${r.threads ?? ""} ${r.model}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const medians = [...groups.values()].map((g) => {
    const sorted = [...g].sort((a, b) => a.imgPerSec - b.imgPerSec);
    const mid = sorted[(sorted.length - 1) >> 1] as Row;
    return { ...mid, rounds: g.map((r) => r.imgPerSec) };
  });
  rows.splice(0, rows.length, ...medians);
  notes.push(
    `median of ${repeat} interleaved rounds per figure (all rounds: rows[].rounds in --json)`,
  );
}

/** "tfjs wasm 2t", "torch cpu 1t", "tfjs webgpu": CPU engines with their thread count. */
const label = (r: { engine: string; backend: string; threads?: number }) =>
  `${r.engine} ${r.backend}${r.threads !== undefined && !(r.engine === "tfjs" && r.backend === "cpu") ? ` ${r.threads}t` : ""}`;

for (const model of modelList) {
  const mine = rows.filter((r) => r.model === model);
  const tfjsRows = mine.filter((r) => r.engine === "tfjs");
  const pool = tfjsRows.length ? tfjsRows : mine;
  // The pure-JS backend is the reference where it ran; otherwise the slowest tfjs figure.
  const base =
    pool.find((r) => r.engine === "tfjs" && r.backend === "cpu") ??
    pool.reduce<Row | undefined>((a, r) => (!a || r.imgPerSec < a.imgPerSec ? r : a), undefined);
  if (!base) continue;
  for (const r of mine) {
    r.vsBaseline = r.imgPerSec / base.imgPerSec;
    r.baseline = label(base);
  }
}

interface Ratio {
  model: Model;
  deviceClass: DeviceClass;
  torch: string;
  torchThreads?: number;
  torchImgPerSec: number;
  /** Best tfjs backend of the class; absent when none was measured. */
  tfjs?: string;
  tfjsThreads?: number;
  tfjsImgPerSec?: number;
  ratio?: number;
}
const ratios: Ratio[] = [];
// The bare loop as a user's script runs it (the engine-malloc variant is for the engine's ratio).
for (const t of rows.filter((r) => r.engine === "torch" && !r.backend.endsWith(ENGINE_MALLOC))) {
  const best = rows
    .filter((r) => r.engine === "tfjs" && r.model === t.model && r.deviceClass === t.deviceClass)
    .reduce<Row | undefined>((a, r) => (!a || r.imgPerSec > a.imgPerSec ? r : a), undefined);
  ratios.push({
    model: t.model,
    deviceClass: t.deviceClass,
    torch: t.backend,
    ...(t.threads !== undefined && { torchThreads: t.threads }),
    torchImgPerSec: t.imgPerSec,
    ...(best && {
      tfjs: best.backend,
      ...(best.threads !== undefined && { tfjsThreads: best.threads }),
      tfjsImgPerSec: best.imgPerSec,
      ratio: t.imgPerSec / best.imgPerSec,
    }),
  });
}

/** wasm at N threads over wasm at 1 thread, per model (when both were measured). */
interface Scaling {
  model: Model;
  threads: number;
  imgPerSec: number;
  oneThreadImgPerSec: number;
  speedup: number;
  /** Amdahl's parallel fraction p from speedup S on N threads: (1 - 1/S) / (1 - 1/N). */
  parallelFraction: number;
}
const scaling: Scaling[] = [];
/** torch cpu / tfjs wasm at the same thread count. */
interface EqualThreads {
  model: Model;
  threads: number;
  torchImgPerSec: number;
  wasmImgPerSec: number;
  ratio: number;
}
const equalThreads: EqualThreads[] = [];
for (const model of modelList) {
  const wasmRows = rows.filter(
    (r) => r.engine === "tfjs" && r.backend === "wasm" && r.model === model,
  );
  const one = wasmRows.find((r) => r.threads === 1);
  for (const r of wasmRows) {
    const n = r.threads ?? 1;
    if (one && n > 1) {
      const speedup = r.imgPerSec / one.imgPerSec;
      scaling.push({
        model,
        threads: n,
        imgPerSec: r.imgPerSec,
        oneThreadImgPerSec: one.imgPerSec,
        speedup,
        parallelFraction: (1 - 1 / speedup) / (1 - 1 / n),
      });
    }
    const t = rows.find(
      (q) => q.engine === "torch" && q.backend === "cpu" && q.model === model && q.threads === n,
    );
    if (t) {
      equalThreads.push({
        model,
        threads: n,
        torchImgPerSec: t.imgPerSec,
        wasmImgPerSec: r.imgPerSec,
        ratio: t.imgPerSec / r.imgPerSec,
      });
    }
  }
}

/** The torch engine over the bare loop at the same device, threads and precision (target >= 0.9). */
interface EngineRatio {
  model: Model;
  backend: string;
  /** The bare row's backend: the same, or with " engine-malloc" (the engine's malloc settings). */
  bare: string;
  threads?: number;
  /** The median rounds' figures (the table's). */
  engineImgPerSec: number;
  bareImgPerSec: number;
  /** engineImgPerSec / bareImgPerSec. */
  ratio: number;
  /** engine / bare img/s of each round (the two ran one after the other). */
  pairedRatios: number[];
  /** Their median: the figure the target is judged by. */
  pairedRatio: number;
  /** bare / engine CPU ms per step, each round, and their median (1 = no CPU time added). */
  cpuRatios: number[];
  cpuRatio?: number;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const engineRatios: EngineRatio[] = [];
const sameSetting = (a: Row, b: Row) =>
  a.backend === b.backend && a.model === b.model && a.threads === b.threads;
for (const e of rows.filter((r) => r.engine === "torch engine")) {
  // Against the plain bare loop (the target), then against the bare loop with the engine's
  // malloc settings (what the engine's own loop costs beyond the same PyTorch process).
  for (const bareBackend of [e.backend, `${e.backend} ${ENGINE_MALLOC}`]) {
    const like = (r: Row) => r.engine === "torch" && sameSetting(r, { ...e, backend: bareBackend });
    const bare = rows.find(like);
    if (!bare) continue;
    const pairs = allRows
      .filter((r) => r.engine === "torch engine" && sameSetting(r, e))
      .map((er) => [er, allRows.find((r) => like(r) && r.round === er.round)] as const)
      .filter((p): p is readonly [Row, Row] => p[1] !== undefined);
    const pairedRatios = pairs.map(([er, br]) => er.imgPerSec / br.imgPerSec);
    const cpuRatios = pairs
      .filter(([er, br]) => er.cpuMsPerStep && br.cpuMsPerStep)
      .map(([er, br]) => (br.cpuMsPerStep as number) / (er.cpuMsPerStep as number));
    engineRatios.push({
      model: e.model,
      backend: e.backend,
      bare: bareBackend,
      ...(e.threads !== undefined && { threads: e.threads }),
      engineImgPerSec: e.imgPerSec,
      bareImgPerSec: bare.imgPerSec,
      ratio: e.imgPerSec / bare.imgPerSec,
      pairedRatios,
      pairedRatio: pairedRatios.length ? median(pairedRatios) : e.imgPerSec / bare.imgPerSec,
      cpuRatios,
      ...(cpuRatios.length && { cpuRatio: median(cpuRatios) }),
    });
  }
}

const date = new Date().toISOString();
const host = {
  hostname: os.hostname(),
  platform: `${os.platform()} ${os.release()}`,
  arch: os.arch(),
  cpu: cpuName,
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  tfjsCore: tf.version_core,
};

const out: string[] = [];
out.push(
  `speed bench ${date.slice(0, 16)}Z  ${host.hostname}: ${host.cpu}, ${host.cores} cores, node ${host.node}, tfjs ${host.tfjsCore}`,
);
out.push(
  `batch ${batch}, up to ${steps} timed steps after ${warmup} warm-up (each phase stops after ${maxSeconds} s); fp32, SGD lr 0.01`,
);
for (const [name, info] of Object.entries(backendInfo)) {
  out.push(`  tfjs ${name.padEnd(15)} ${info.deviceClass.toUpperCase()}  ${info.device}`);
}
// Threads per engine (CPU engines; GPU engines and libtensorflow choose their own).
const threadsOf = (engine: string, backend: string) =>
  [
    ...new Set(
      rows.filter((r) => r.engine === engine && r.backend === backend).map((r) => r.threads),
    ),
  ]
    .filter((t) => t !== undefined)
    .sort((a, b) => (a as number) - (b as number));
const threadLine = [
  ["tfjs", "wasm"],
  ["tfjs", "cpu"],
  ["torch", "cpu"],
]
  .map(([e, b]) => [`${e} ${b}`, threadsOf(e as string, b as string)] as const)
  .filter(([, t]) => t.length)
  .map(([name, t]) => `${name} ${t.join(", ")}`);
if (threadLine.length) out.push(`  threads: ${threadLine.join("; ")}`);
const torchSeen = new Set<string>();
for (const run of torchRuns) {
  const key = `${run.device} ${run.threads}`;
  if (torchSeen.has(key)) continue; // --repeat: one line per device and thread count
  torchSeen.add(key);
  out.push(
    `  torch ${`${run.torch} ${run.device}`.padEnd(14)} ${run.device === "cuda" ? "GPU" : "CPU"}  ${run.deviceName}, ${run.device === "cpu" ? `${run.threads} threads` : run.tf32 ? "TF32" : "no TF32"} (${torch?.interpreter})`,
  );
}
out.push("");
const header = ["model", "engine", "class", "img/s", "ms/step", "median", "steps", "x baseline"];
const widths = [9, 27, 5, 9, 9, 9, 6, 0];
const line = (cells: string[]) =>
  cells
    .map((c, i) => (i >= 3 && i <= 6 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
    .join("  ")
    .trimEnd();
out.push(line(header));
for (const model of modelList) {
  for (const r of rows.filter((q) => q.model === model)) {
    out.push(
      line([
        model,
        label(r),
        r.deviceClass.toUpperCase(),
        fmt(r.imgPerSec),
        fmt(r.msPerStep),
        fmt(r.medianMsPerStep),
        `${r.steps}${r.stoppedByTime ? "*" : ""}`,
        r.vsBaseline === undefined ? "" : `${fmt(r.vsBaseline)}x vs ${r.baseline}`,
      ]),
    );
  }
}
if (rows.some((r) => r.stoppedByTime)) out.push(`* stopped by --max-seconds ${maxSeconds}`);
if (ratios.length) {
  out.push("");
  out.push("PyTorch / best tfjs backend of the same device class:");
  for (const q of ratios) {
    out.push(
      q.ratio === undefined
        ? `${q.model}: ${label({ engine: "torch", backend: q.torch, threads: q.torchThreads })} ${fmt(q.torchImgPerSec)} img/s; no tfjs ${q.deviceClass.toUpperCase()} backend measured`
        : `${q.model}: ${label({ engine: "torch", backend: q.torch, threads: q.torchThreads })} ${fmt(q.torchImgPerSec)} img/s / ${label({ engine: "tfjs", backend: q.tfjs ?? "", threads: q.tfjsThreads })} ${fmt(q.tfjsImgPerSec ?? 0)} img/s = ${q.ratio >= 10 ? q.ratio.toFixed(1) : q.ratio.toFixed(2)}x`,
    );
  }
}
if (scaling.length) {
  out.push("");
  out.push("wasm threads: img/s over the 1-thread figure (parallel fraction p by Amdahl):");
  for (const q of scaling) {
    out.push(
      `${q.model}: ${q.threads} threads ${fmt(q.imgPerSec)} img/s / 1 thread ${fmt(q.oneThreadImgPerSec)} img/s = ${q.speedup.toFixed(2)}x (p = ${q.parallelFraction.toFixed(2)})`,
    );
  }
}
if (equalThreads.length) {
  out.push("");
  out.push("torch cpu / tfjs wasm at equal threads:");
  for (const q of equalThreads) {
    out.push(
      `${q.model}: ${q.threads} thread${q.threads === 1 ? "" : "s"}: torch ${fmt(q.torchImgPerSec)} img/s / wasm ${fmt(q.wasmImgPerSec)} img/s = ${q.ratio.toFixed(2)}x`,
    );
  }
}
const torchCpuThreads = Math.max(
  0,
  ...torchRuns.filter((r) => r.device === "cpu").map((r) => r.threads),
);
const tfjsCpuThreads = Math.max(
  0,
  ...rows
    .filter((r) => r.engine === "tfjs" && r.threads !== undefined)
    .map((r) => r.threads as number),
);
if (torchCpuThreads > tfjsCpuThreads && tfjsCpuThreads > 0) {
  // Fewer tfjs threads than torch's: the CPU ratio is partly a thread count.
  notes.push(
    `torch cpu used up to ${torchCpuThreads} threads, tfjs at most ${tfjsCpuThreads} (see the equal-thread ratios; --wasm-threads and --torch-threads)`,
  );
}
if (engineRatios.length) {
  out.push("");
  out.push(
    "torch engine (real worker, data pipeline) / bare torch loop, same device, threads, precision (target >= 0.90):",
  );
  out.push(
    "  img/s: the median rounds; paired: the median of each round's engine / bare (they ran one after the other);",
  );
  out.push(
    "  CPU: bare / engine CPU ms per step, median of rounds (1.00 = the engine adds no CPU time; neighbours hardly move it)",
  );
  const r2 = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(" ");
  for (const q of engineRatios) {
    const target = q.bare === q.backend;
    const name = label({ engine: "torch", backend: q.backend, threads: q.threads });
    out.push(
      `${q.model}: ${name}: engine ${fmt(q.engineImgPerSec)} img/s / bare${target ? "" : ` (${ENGINE_MALLOC})`} ${fmt(q.bareImgPerSec)} img/s = ${q.ratio.toFixed(2)}; paired ${q.pairedRatio.toFixed(2)}${q.pairedRatios.length > 1 ? ` (${r2(q.pairedRatios)})` : ""}${target && q.pairedRatio < 0.9 ? "  (below 0.90)" : ""}${q.cpuRatio === undefined ? "" : `; CPU ${q.cpuRatio.toFixed(2)}${q.cpuRatios.length > 1 ? ` (${r2(q.cpuRatios)})` : ""}`}`,
    );
  }
  out.push(
    `  (${ENGINE_MALLOC}: the bare loop with the engine's malloc settings, TRAINING_MALLOC_ENV: what the engine's own loop costs)`,
  );
  const phased = rows.filter((r) => r.engine === "torch engine" && r.phases);
  if (phased.length) {
    out.push("");
    out.push(
      "torch engine: where a step's wall time goes (ms/step, median round; python/sgd_studio_torch/phases.py); CPU ms/step, bare loop's beside:",
    );
    for (const r of phased) {
      const p = r.phases as Record<string, number>;
      const bareCpu = (backend: string) =>
        rows.find((b) => b.engine === "torch" && sameSetting(b, { ...r, backend }))?.cpuMsPerStep;
      const plain = bareCpu(r.backend);
      const tuned = bareCpu(`${r.backend} ${ENGINE_MALLOC}`);
      const phaseText = Object.entries(p)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(", ");
      const cpu = r.cpuMsPerStep === undefined ? "?" : fmt(r.cpuMsPerStep);
      out.push(
        `${r.model}: ${label(r)}: ${phaseText}; CPU ${cpu} (bare ${plain === undefined ? "?" : fmt(plain)}, bare ${ENGINE_MALLOC} ${tuned === undefined ? "?" : fmt(tuned)})`,
      );
    }
  }
}
if (skipped.length) {
  out.push("");
  out.push("Not measured:");
  for (const s of skipped) {
    out.push(`  ${s.engine} ${s.backend}${s.model ? ` ${s.model}` : ""}: ${s.reason}`);
  }
}
if (notes.length) {
  out.push("");
  out.push("Notes:");
  for (const n of notes) out.push(`  ${n}`);
}
console.log(out.join("\n"));

const failed = skipped.some((s) => s.failure);
if (opts.json) {
  const report = {
    date,
    host,
    options: {
      models: modelList,
      backends: opts.backends,
      batch,
      steps,
      warmup,
      maxSeconds,
      slow: opts.slow,
      torch: torchArg,
      wasmThreads: wasmThreadList,
      torchThreads: torchThreadList,
    },
    backends: backendInfo,
    probes: probes.map((p) => ({
      name: p.name,
      available: p.available,
      autoSelect: p.autoSelect,
      reason: p.reason,
      details: p.details,
    })),
    torch: torch && { ...torch, runs: torchRuns.map(({ results: _, ...r }) => r) },
    rows,
    ratios,
    scaling,
    equalThreads,
    engineRatios,
    engineRuns,
    skipped,
    notes,
    ok: !failed,
  };
  console.log(JSON.stringify(report));
}
// Dawn keeps handles open after webgpu was used: exit explicitly once stdout is flushed.
process.stdout.write("", () => process.exit(failed ? 1 : 0));
