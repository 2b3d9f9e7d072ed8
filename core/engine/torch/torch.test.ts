/**
 * The torch engine (core/engine/torch, python/sgd_studio_torch) on CPU:
 * the same models (parameter counts), the same schedule per step, the same
 * metric names and units as the TF.js engine, bit-exact resume, accuracy
 * parity with wasm on the real Fashion-MNIST files.
 *
 * PyTorch is required (CI installs python3-torch: Debian's /usr/bin/python3
 * has it, interpreter discovery finds it even when `python3` on PATH is a
 * shim without torch): without it these tests skip with a message, except
 * under CI (CI=true), where they fail.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { childPids, until } from "../../../tests/lifecycle/hosts.js";
import { requireTorch, torchPython, torchTests } from "../../../tests/support/torch.js";
import { MODEL_NAMES } from "../../api/lists.js";
import { countModelParams, DEFAULT_INPUT_SHAPE, modelGraph } from "../../models/index.js";
import { compileSchedule } from "../../schedule/index.js";
import { Service } from "../../service/service.js";
import { loadCheckpoint } from "../checkpoint.js";
import type { EpochEvent, StepEvent, TrainEvent, TrainSpecInput } from "../events.js";
import { TrainingError } from "../events.js";
import { nodeSystem } from "../system.js";
import { Trainer } from "../trainer.js";
import { startTraining } from "../worker-client.js";
import { TorchTrainer } from "./driver.js";
import {
  findTorchPython,
  PYTHON_ENV,
  pythonCandidates,
  TRAINING_MALLOC_ENV,
  torchEnv,
  trainingEnv,
} from "./python.js";

const python = torchPython;
const withTorch = torchTests("the torch engine tests");

const FASHION = "/usr/share/datasets/fashion-mnist";
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "torch-engine-"));
  dirs.push(d);
  return d;
}

const growing = {
  version: 1,
  epochs: 2,
  lr: { kind: "step", lr: 0.1, stepSize: 1, gamma: 0.5 },
  batch: { kind: "step", size: 50, factor: 2, every: 1 },
};

function spec(over: Partial<TrainSpecInput> = {}): TrainSpecInput {
  return {
    dataset: "default",
    model: "mlp",
    backend: "torch",
    seed: 3,
    schedule: growing,
    trainLimit: 600,
    testLimit: 300,
    noiseEvery: 4,
    ...over,
  };
}

async function trainTorch(
  s: TrainSpecInput,
  onEvent?: (e: TrainEvent, t: TorchTrainer) => void,
  resumeFrom?: string,
) {
  const events: TrainEvent[] = [];
  const trainer: TorchTrainer = new TorchTrainer(
    s,
    (e) => {
      events.push(e);
      onEvent?.(e, trainer);
    },
    { resumeFrom },
  );
  const summary = await trainer.run();
  return { summary, events, ...split(events) };
}

/** Through the real training worker process (what every host launches). */
async function trainInWorker(s: TrainSpecInput) {
  const events: TrainEvent[] = [];
  const handle = startTraining(s, { onEvent: (e) => events.push(e) });
  const summary = await handle.done;
  return { summary, events, ...split(events) };
}

function split(events: TrainEvent[]) {
  return {
    steps: events.filter((e): e is StepEvent => e.type === "step"),
    epochs: events.filter((e): e is EpochEvent => e.type === "epoch"),
  };
}

describe("torch engine: models", () => {
  withTorch(
    "builds every model from its graph with the TF.js model's parameter count",
    () => {
      const py = requireTorch();
      const graphs = MODEL_NAMES.map((name) => ({
        name,
        graph: modelGraph(name, { inputShape: DEFAULT_INPUT_SHAPE[name], numClasses: 10 }),
        expected: countModelParams(name, { inputShape: DEFAULT_INPUT_SHAPE[name], numClasses: 10 })
          .trainable,
      }));
      const script = `
import json, sys, torch
from sgd_studio_torch.models import build_model, trainable_count
out = {}
for g in json.load(sys.stdin):
    m = build_model(g["graph"], 0)
    shape = g["graph"]["nodes"][0]["out"]
    x = torch.zeros(2, shape[2], shape[0], shape[1])
    with torch.no_grad():
        y = m.eval()(x)
    out[g["name"]] = [trainable_count(m), list(y.shape)]
print(json.dumps(out))`;
      const out = JSON.parse(
        execFileSync(py, ["-c", script], {
          input: JSON.stringify(graphs),
          env: torchEnv(),
          maxBuffer: 1 << 20,
          timeout: 300_000,
        }).toString(),
      ) as Record<string, [number, number[]]>;
      for (const g of graphs) {
        expect(out[g.name]?.[0], g.name).toBe(g.expected);
        expect(out[g.name]?.[1], g.name).toEqual([2, 10]);
      }
      // The documented counts (core/models/architectures.ts).
      expect(out.mlp?.[0]).toBe(235_146);
      expect(out.cnn?.[0]).toBe(421_738);
      expect(out.resnet18?.[0]).toBe(11_173_962);
      expect(out["wrn-16-4"]?.[0]).toBe(2_748_890);
      expect(out["wrn-28-10"]?.[0]).toBe(36_479_194);
    },
    300_000,
  );
});

describe("torch engine: training", () => {
  withTorch(
    "follows the compiled schedule step by step and records the TF.js engine's metrics",
    async () => {
      requireTorch();
      const s = spec({ backend: "cpu" });
      const [torch, tfjs] = [
        await trainInWorker({ ...s, backend: "torch" }),
        await trainInWorker(s),
      ];
      const compiled = compileSchedule(growing, { datasetSize: 600 });
      for (const run of [torch, tfjs]) {
        expect(run.steps).toHaveLength(compiled.totals.updates); // 12 + 6
        expect(run.summary.steps).toBe(compiled.totals.updates);
      }
      expect(torch.events.find((e) => e.type === "start")).toMatchObject({
        backend: "torch",
        torch: { device: "cpu", compile: false, autocast: "off" },
      });
      // Identical LR and batch trajectories, step for step; samples the same.
      expect(torch.steps.map((e) => [e.step, e.epoch, e.lr, e.batchSize, e.samples])).toEqual(
        tfjs.steps.map((e) => [e.step, e.epoch, e.lr, e.batchSize, e.samples]),
      );
      expect(torch.steps.map((e) => e.lr)).toEqual(Array.from(compiled.steps.lr));
      // The same metric names, event by event type.
      const keys = (events: TrainEvent[], type: string) => [
        ...new Set(events.filter((e) => e.type === type).map((e) => Object.keys(e).sort().join())),
      ];
      for (const type of ["step", "epoch", "checkpoint", "summary"]) {
        expect(keys(torch.events, type), type).toEqual(keys(tfjs.events, type));
      }
      // The same units: loss in nats per example (ln 10 at the start), accuracy a
      // fraction, gradient norm of the mean gradient (same order), throughput in
      // images per second, delta = lr C / sqrt(b) once C is estimated.
      for (const run of [torch, tfjs]) {
        const first = run.steps[0] as StepEvent;
        expect(first.loss).toBeGreaterThan(1.5);
        expect(first.loss).toBeLessThan(3.5);
        for (const e of run.steps) {
          expect(e.throughput).toBeGreaterThan(0);
          if (e.deltaMethod === "two-batch-estimate") expect(e.delta).toBeGreaterThan(0);
        }
        for (const e of run.epochs) {
          expect(e.testAccuracy).toBeGreaterThan(0.3);
          expect(e.testAccuracy).toBeLessThanOrEqual(1);
        }
        expect(run.steps.at(-1)?.deltaMethod).toBe("two-batch-estimate");
        // Delta's parts as the Run view shows them: the schedule's delta/delta0, C re-estimated only at
        // the steps it is measured (every noiseEvery), each step with its own, increasing time.
        expect(run.steps.every((e) => typeof e.deltaScheduled === "number")).toBe(true);
        const updated = run.steps.filter((e) => e.noiseUpdated).map((e) => e.step);
        expect(updated.length).toBeGreaterThan(0);
        for (const step of updated) expect(step % 4).toBe(0); // the spec's noiseEvery
        const times = run.steps.map((e) => e.time as number);
        for (let i = 1; i < times.length; i++)
          expect(times[i]).toBeGreaterThanOrEqual(times[i - 1] as number);
      }
      const ratio = (torch.steps[0]?.gradNorm as number) / (tfjs.steps[0]?.gradNorm as number);
      expect(ratio).toBeGreaterThan(0.33);
      expect(ratio).toBeLessThan(3);
      const c = (run: typeof torch) => run.epochs.at(-1)?.noiseC as number;
      expect(c(torch) / c(tfjs)).toBeGreaterThan(0.33);
      expect(c(torch) / c(tfjs)).toBeLessThan(3);
    },
    240_000,
  );

  withTorch(
    "resumes from an epoch checkpoint on the same loss trajectory, bit for bit",
    async () => {
      requireTorch();
      const s = spec({
        optimizer: { kind: "momentum", momentum: 0.9, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        noiseDirectEpochs: [0],
      });
      const whole = await trainTorch({ ...s, checkpointDir: tempDir() });
      const dir = tempDir();
      const first = await trainTorch({ ...s, checkpointDir: dir }, (e, t) => {
        if (e.type === "checkpoint" && e.epoch === 0) t.stop();
      });
      expect(first.summary.status).toBe("stopped");
      expect(readdirSync(dir)).toContain("epoch-0000");
      const rest = await trainTorch(
        { ...s, checkpointDir: dir },
        undefined,
        join(dir, "epoch-0000"),
      );
      const epoch1 = whole.steps.filter((e) => e.epoch === 1);
      expect(rest.steps.length).toBe(epoch1.length);
      expect(rest.steps.map((e) => [e.step, e.loss, e.gradNorm, e.delta, e.samples])).toEqual(
        epoch1.map((e) => [e.step, e.loss, e.gradNorm, e.delta, e.samples]),
      );
      expect(rest.epochs[0]?.testAccuracy).toBe(whole.epochs[1]?.testAccuracy);
      expect(rest.epochs[0]?.testLoss).toBe(whole.epochs[1]?.testLoss);
      // The direct estimate of C ran in epoch 0 and did not change the run.
      expect(whole.events.some((e) => e.type === "noise" && e.c > 0)).toBe(true);
    },
    240_000,
  );

  withTorch(
    "a checkpoint resumes only on its own engine, with the fix in the error",
    async () => {
      requireTorch();
      const one = { ...spec({ trainLimit: 200, testLimit: 100 }), epochs: 1 };
      const torchDir = tempDir();
      const t = await trainTorch({ ...one, checkpointDir: torchDir });
      const torchCheckpoint = t.summary.checkpoint as string;
      expect(() => loadCheckpoint(torchCheckpoint)).toThrow(
        /made by the torch engine; resume it with backend torch/,
      );
      const tfjsDir = tempDir();
      await new Trainer({ ...one, backend: "cpu", checkpointDir: tfjsDir }, () => {}).run();
      await expect(
        trainTorch({ ...one, checkpointDir: tfjsDir }, undefined, join(tfjsDir, "epoch-0000")),
      ).rejects.toThrow(/made by a TensorFlow.js backend/);
    },
    120_000,
  );

  withTorch(
    "refuses what it cannot do with a clear error",
    async () => {
      requireTorch();
      const dir = tempDir();
      await expect(trainTorch(spec({ trainLimit: 100 }), undefined, dir)).rejects.toThrow(
        TrainingError,
      );
      await expect(trainTorch(spec({ torch: { device: "cuda:0" } as never }))).rejects.toThrow(
        /no CUDA device/,
      );
    },
    120_000,
  );
});

describe("torch engine: parity with wasm on Fashion-MNIST", () => {
  const haveData = existsSync(join(FASHION, "train-images-idx3-ubyte.gz"));
  if (!haveData && !process.env.CI) console.warn(`skipping the parity test: no ${FASHION}`);
  it.skipIf((!python || !haveData) && !process.env.CI)(
    "mlp, 2 epochs: the same LR and batch per step, test accuracy within 1.5 points",
    async () => {
      requireTorch();
      const s: TrainSpecInput = {
        dataset: "fashion-mnist",
        model: "mlp",
        seed: 1,
        schedule: {
          version: 1,
          epochs: 2,
          lr: { kind: "step", lr: 0.1, stepSize: 1, gamma: 0.5 },
          batch: { kind: "step", size: 128, factor: 2, every: 1 },
        },
      };
      const torch = await trainInWorker({ ...s, backend: "torch" });
      const wasm = await trainInWorker({ ...s, backend: "wasm" });
      expect(torch.steps.length).toBe(wasm.steps.length);
      expect(torch.steps.map((e) => [e.lr, e.batchSize])).toEqual(
        wasm.steps.map((e) => [e.lr, e.batchSize]),
      );
      const acc = (r: typeof torch) => r.summary.testAccuracy as number;
      console.log(`Fashion-MNIST mlp 2 epochs: torch ${acc(torch)}, wasm ${acc(wasm)}`);
      expect(acc(torch)).toBeGreaterThan(0.8);
      expect(Math.abs(acc(torch) - acc(wasm))).toBeLessThanOrEqual(0.015);
    },
    600_000,
  );
});

describe("torch engine: finding Python", () => {
  it("tries SGD_STUDIO_PYTHON first, passes over a Python without torch and says why", async () => {
    const dir = tempDir();
    const fake = join(dir, "python3");
    writeFileSync(
      fake,
      "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n",
      { mode: 0o755 },
    );
    const env = { PATH: dir, [PYTHON_ENV]: fake };
    expect(pythonCandidates(env)[0]).toBe(fake);
    const found = await findTorchPython({ ...nodeSystem, env });
    // Once, although it is both the variable and PATH's python3.
    expect(found.tried.filter((t) => t.python === fake)).toHaveLength(1);
    expect(found.tried[0]).toMatchObject({
      python: fake,
      error: expect.stringMatching(/No module named 'torch'/),
    });
    if (python) expect(found.found?.torch).toBeTruthy();
    else expect(found.fix).toMatch(/apt-get install python3-torch/);
  });

  it.skipIf(process.env[PYTHON_ENV] !== undefined)(
    "the pythonPath setting sets SGD_STUDIO_PYTHON for training workers; bad values are refused",
    async () => {
      const service = new Service({ home: tempDir() });
      try {
        await service.call("system.settings.set", {
          settings: { pythonPath: "/opt/py/bin/python3" },
        });
        expect(process.env[PYTHON_ENV]).toBe("/opt/py/bin/python3");
        await service.call("system.settings.set", { settings: { pythonPath: null } });
        expect(process.env[PYTHON_ENV]).toBeUndefined();
        await expect(
          service.call("system.settings.set", { settings: { pythonPath: "" } }),
        ).rejects.toMatchObject({ field: "settings.pythonPath" });
      } finally {
        delete process.env[PYTHON_ENV];
      }
    },
  );
});

describe("torch engine: speed", () => {
  withTorch(
    "a 1-channel batch reaches the model in plain NCHW strides, so convolutions run NCHW",
    () => {
      const py = requireTorch();
      // permute + contiguous() left strides (HW, 1, W, 1) that torch reads as channels-last:
      // the cnn then ran channels-last with "channels-last off" (slower on the CPU).
      const script = `
import json, torch
from sgd_studio_torch.worker import model_input
cpu = torch.device("cpu")
conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
out = {}
for name, cl in (("plain", False), ("cl", True)):
    x = torch.randn(4, 5, 6, 1)
    y = model_input(x, cpu, False, cl)
    out[name] = {"shape": list(y.shape), "stride": list(y.stride()), "same": bool(torch.equal(y, x.permute(0, 3, 1, 2))),
                 "conv": list(conv(y).stride())}
print(json.dumps(out))`;
      const out = JSON.parse(
        execFileSync(py, ["-c", script], { env: torchEnv(), timeout: 120_000 }).toString(),
      );
      expect(out.plain).toEqual({
        shape: [4, 1, 5, 6],
        stride: [30, 30, 6, 1],
        same: true,
        conv: [120, 30, 6, 1], // NCHW output
      });
      expect(out.cl.same).toBe(true);
      expect(out.cl.conv).toEqual([120, 1, 24, 4]); // channels-last output, as asked
    },
    120_000,
  );

  it("the training process gets the engine's malloc settings unless the user tunes malloc", () => {
    expect(trainingEnv({ PATH: "/bin" })).toMatchObject(TRAINING_MALLOC_ENV);
    for (const own of [
      { MALLOC_ARENA_MAX: "2" },
      { GLIBC_TUNABLES: "glibc.malloc.tcache_count=0" },
    ]) {
      const env = trainingEnv({ PATH: "/bin", ...own });
      expect(env.MALLOC_MMAP_THRESHOLD_).toBeUndefined();
      expect(env.MALLOC_TRIM_THRESHOLD_).toBeUndefined();
      expect(env).toMatchObject(own);
    }
  });

  withTorch(
    "with those settings a cnn training step stops faulting its memory in again",
    () => {
      const py = requireTorch();
      const graph = modelGraph("cnn", { inputShape: [28, 28, 1], numClasses: 10 });
      // Minor page faults per step of cnn at batch 128 (the median of steps 4-11: counts, not
      // times; with the settings most steps fault nothing, an occasional one grows the heap).
      const script = `
import json, resource, sys, torch, torch.nn.functional as F
from sgd_studio_torch.models import build_model
torch.set_num_threads(1)
m = build_model(json.load(sys.stdin), 0)
opt = torch.optim.SGD(m.parameters(), lr=0.01)
x = torch.randn(128, 1, 28, 28); y = torch.arange(128) % 10
faults = []
for i in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(m(x), y).backward()
    opt.step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(sorted(faults[4:])[4]))`;
      const faults = (env: NodeJS.ProcessEnv) =>
        Number(
          execFileSync(py, ["-c", script], {
            input: JSON.stringify(graph),
            env,
            timeout: 120_000,
          }).toString(),
        );
      const plain = faults(torchEnv());
      const tuned = faults(trainingEnv());
      expect(plain).toBeGreaterThan(2000); // glibc's defaults: ~10,000 faults a step
      expect(tuned).toBeLessThan(plain / 10);
    },
    120_000,
  );

  withTorch(
    "SGD_STUDIO_TORCH_PHASES writes where each reported window's time went",
    async () => {
      requireTorch();
      const file = join(tempDir(), "phases.jsonl");
      process.env.SGD_STUDIO_TORCH_PHASES = file;
      let run: Awaited<ReturnType<typeof trainTorch>>;
      try {
        run = await trainTorch(spec());
      } finally {
        delete process.env.SGD_STUDIO_TORCH_PHASES;
      }
      const lines = readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map(
          (l) =>
            JSON.parse(l) as {
              first: number;
              steps: number;
              images: number;
              wall: number;
              cpu: number;
              phases: Record<string, number>;
            },
        );
      // One line per "steps" message: every step once, in order, the images of each window.
      const covered = lines.flatMap((w) => Array.from({ length: w.steps }, (_, i) => w.first + i));
      expect(covered).toEqual(run.steps.map((e) => e.step));
      expect(lines.reduce((n, w) => n + w.images, 0)).toBe(run.steps.at(-1)?.samples);
      for (const w of lines) {
        expect(Object.keys(w.phases).sort()).toEqual(["control", "data", "report", "step"]);
        const sum = Object.values(w.phases).reduce((a, b) => a + b, 0);
        expect(sum).toBeCloseTo(w.wall, 6);
        expect(w.phases.step).toBeGreaterThan(0);
        expect(w.cpu).toBeGreaterThan(0);
      }
    },
    120_000,
  );
});

describe("torch engine: processes", () => {
  withTorch(
    "Python exits when its worker is killed; a killed Python interrupts the run",
    async () => {
      requireTorch();
      const long = spec({ trainLimit: 3000, schedule: { ...growing, epochs: 50 } });
      // The worker is SIGKILLed: Python sees its stdin close and exits.
      const events: TrainEvent[] = [];
      const handle = startTraining(long, { onEvent: (e) => events.push(e) });
      await until(() => events.some((e) => e.type === "step"), "a first step", 120_000);
      const [py] = childPids(handle.pid as number);
      expect(py).toBeGreaterThan(0);
      // The training Python runs with the engine's malloc settings (speed: no page faults per step).
      const environ = readFileSync(`/proc/${py}/environ`, "utf8").split("\0");
      for (const [k, v] of Object.entries(TRAINING_MALLOC_ENV))
        expect(environ).toContain(`${k}=${v}`);
      handle.kill("SIGKILL");
      await expect(handle.done).rejects.toMatchObject({ code: "worker-exited" });
      await until(
        () =>
          !existsSync(`/proc/${py}/status`) || /State:\s+Z/.test(String(readStatus(py as number))),
        "Python to exit",
        20_000,
      );

      // Python is SIGKILLed: the worker reports worker-exited (the run is interrupted, resumable).
      const again: TrainEvent[] = [];
      const second = startTraining(long, { onEvent: (e) => again.push(e) });
      await until(() => again.some((e) => e.type === "step"), "a first step", 120_000);
      const [py2] = childPids(second.pid as number);
      process.kill(py2 as number, "SIGKILL");
      await expect(second.done).rejects.toMatchObject({
        code: "worker-exited",
        message: expect.stringMatching(/Python process was killed by SIGKILL/),
      });
    },
    300_000,
  );
});

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return "";
  }
}
