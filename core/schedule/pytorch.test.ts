// exportPyTorch: the generated module's text, and its LRs and batch sizes when real PyTorch
// walks it as a training loop would (core/schedule/fixtures/torch_harness.py), compared
// with the compiler step by step.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileSchedule } from "./compile.js";
import { PRESETS } from "./presets.js";
import { exportPyTorch, pytorchSchedulerFor } from "./pytorch.js";
import type { ScheduleInput } from "./spec.js";
import { ScheduleError } from "./validate.js";

/** Debian's python3-torch is installed for the system Python (not a pyenv one on PATH). */
const PYTHON = process.env.SGD_STUDIO_TORCH_PYTHON ?? "/usr/bin/python3";
const HARNESS = fileURLToPath(new URL("./fixtures/torch_harness.py", import.meta.url));

type Per = "epoch" | "step";

function schedule(lr: unknown, opts: { per?: Per; epochs?: number; batch?: unknown } = {}) {
  return {
    version: 1,
    epochs: opts.epochs ?? 12,
    per: opts.per ?? "epoch",
    lr,
    batch: opts.batch ?? { kind: "constant", size: 32 },
  } as ScheduleInput;
}

/** A warmup LR spec in front of `inner`. */
function warmup(epochs: number, inner: unknown, startFactor?: number) {
  return {
    kind: "warmup",
    epochs,
    ...(startFactor === undefined ? {} : { startFactor }),
    schedule: inner,
  };
}

function preset(name: string): ScheduleInput {
  const p = PRESETS.find((x) => x.name === name);
  if (!p) throw new Error(`no preset ${name}`);
  return p.schedule;
}

describe("exportPyTorch: the generated module", () => {
  it("defines the documented names and shows the training loop", () => {
    const py = exportPyTorch(preset("warmup-cosine"), { datasetSize: 50_000 });
    for (const name of [
      "BASE_LR = ",
      "EPOCHS = 200",
      "DATASET_SIZE = 50000",
      "DROP_LAST = False",
      'STEP_EVERY = "step"',
      "def batch_size_for_epoch(epoch):",
      "def steps_in_epoch(epoch):",
      "def make_scheduler(optimizer):",
    ]) {
      expect(py).toContain(name);
    }
    expect(py.startsWith('"""')).toBe(true);
    expect(py).toContain("lr=BASE_LR");
    expect(py).toContain("batch_size=batch_size_for_epoch(epoch)");
    expect(py).toContain("optimizer.step()");
    expect(py).toContain("scheduler.step()");
  });

  it("paper-lr-decay uses StepLR", () => {
    const py = exportPyTorch(preset("paper-lr-decay"), { datasetSize: 50_000 });
    expect(py).toContain(
      "torch.optim.lr_scheduler.StepLR(optimizer, step_size=40, gamma=0.7071067811865476)",
    );
    expect(py).toContain("BASE_LR = 0.1\n");
    expect(py).toContain('STEP_EVERY = "epoch"');
    expect(py).not.toContain("LambdaLR(");
  });

  it("warmup-cosine uses LambdaLR with the formulas inlined, not a table of LRs", () => {
    const py = exportPyTorch(preset("warmup-cosine"), { datasetSize: 50_000 });
    expect(py).toContain("torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)");
    expect(py).toContain("def lr_at(t):");
    expect(py).toContain("math.cos(math.pi * t / 195)");
    expect(py).toContain("if t < 5 - EPS:");
    expect(py).toContain("BATCH_SIZES = [128] * 200");
    // 78,200 steps; the module stays small.
    expect(py.length).toBeLessThan(8000);
    expect(pytorchSchedulerFor(preset("warmup-cosine"), { datasetSize: 50_000 }).className).toBe(
      "LambdaLR",
    );
  });

  it("cosine preset uses CosineAnnealingLR, per epoch and per step", () => {
    expect(exportPyTorch(preset("cosine"), { datasetSize: 50_000 })).toContain(
      "CosineAnnealingLR(optimizer, T_max=200, eta_min=0.0)",
    );
    const perStep = { ...preset("cosine"), per: "step" } as ScheduleInput;
    expect(exportPyTorch(perStep, { datasetSize: 50_000 })).toContain(
      "CosineAnnealingLR(optimizer, T_max=78200, eta_min=0.0)",
    );
  });

  it("per step, built-ins only when epoch parameters are whole numbers of steps", () => {
    const N = 256; // batch 32: 8 steps per epoch
    const exp = schedule({ kind: "exponential", lr: 0.1, gamma: 0.9 }, { per: "step" });
    expect(exportPyTorch(exp, { datasetSize: N })).toContain(
      "ExponentialLR(optimizer, gamma=0.9 ** (1 / 8))",
    );
    const step = (stepSize: number) =>
      pytorchSchedulerFor(
        schedule({ kind: "step", lr: 0.1, stepSize, gamma: 0.5 }, { per: "step" }),
        {
          datasetSize: N,
        },
      );
    expect(step(2.5).className).toBe("StepLR"); // 20 steps
    expect(
      exportPyTorch(
        schedule({ kind: "step", lr: 0.1, stepSize: 2.5, gamma: 0.5 }, { per: "step" }),
        { datasetSize: N },
      ),
    ).toContain("step_size=20,");
    expect(step(2.3).className).toBe("LambdaLR"); // 18.4 steps
    // Growing batch: the steps per epoch change, so an epoch is no fixed number of steps.
    const growing = schedule(
      { kind: "step", lr: 0.1, stepSize: 3, gamma: 0.5 },
      { per: "step", batch: { kind: "step", size: 32, factor: 2, every: 4 } },
    );
    const choice = pytorchSchedulerFor(growing, { datasetSize: N });
    expect(choice.className).toBe("LambdaLR");
    expect(choice.reason).toMatch(/steps per epoch change/);
    // ...but per epoch it is StepLR whatever the batch does.
    expect(
      pytorchSchedulerFor({ ...growing, per: "epoch" } as ScheduleInput, { datasetSize: N })
        .className,
    ).toBe("StepLR");
  });

  it("one-cycle uses OneCycleLR without momentum cycling, unless the cycle ends early", () => {
    const py = exportPyTorch(schedule({ kind: "onecycle", maxLr: 1 }, { per: "step" }), {
      datasetSize: 256,
    });
    expect(py).toContain("torch.optim.lr_scheduler.OneCycleLR(\n        optimizer,\n");
    expect(py).toContain("        max_lr=1.0,\n        total_steps=96,\n");
    expect(py).toContain("cycle_momentum=False");
    const short = schedule({ kind: "onecycle", maxLr: 1, epochs: 8 });
    expect(pytorchSchedulerFor(short, { datasetSize: 256 }).className).toBe("LambdaLR");
  });

  it("a constant LR is LambdaLR(lambda _: 1.0)", () => {
    const py = exportPyTorch(preset("paper-constant"), { datasetSize: 50_000 });
    expect(py).toContain("LambdaLR(optimizer, lambda _: 1.0)");
    expect(py).toContain("BASE_LR = 0.1\n");
  });

  it("BASE_LR is the LR at step 0, or the largest LR when that is 0", () => {
    const warm0 = schedule(warmup(2, { kind: "constant", lr: 0.4 }, 0));
    expect(pytorchSchedulerFor(warm0, { datasetSize: 256 }).baseLr).toBe(0.4);
    expect(exportPyTorch(warm0, { datasetSize: 256 })).toContain("BASE_LR = 0.4\n");
    const key = schedule({
      kind: "keyframes",
      points: [
        { epoch: 0, value: 0.05 },
        { epoch: 4, value: 0.2 },
      ],
    });
    expect(exportPyTorch(key, { datasetSize: 256 })).toContain("BASE_LR = 0.05\n");
  });

  it("writes growing batch sizes out as a list and honours dropLast", () => {
    const py = exportPyTorch(preset("paper-batch-growth"), { datasetSize: 50_000, dropLast: true });
    expect(py).toContain("DROP_LAST = True");
    expect(py).toContain(
      "BATCH_SIZES = [128] * 40 + [256] * 40 + [512] * 40 + [1024] * 40 + [2048] * 40\n",
    );
    const hybrid = exportPyTorch(preset("poly-delta-0.5"), { datasetSize: 50_000 });
    expect(hybrid).toMatch(/BATCH_SIZES = \[128\] \* 40 \+ \[\d+\] \* 40 \+/);
  });

  it("rejects invalid schedules with a ScheduleError", () => {
    expect(() => exportPyTorch({ version: 1, epochs: 0 }, { datasetSize: 10 })).toThrow(
      ScheduleError,
    );
    expect(() => exportPyTorch(preset("cosine"), { datasetSize: 0 })).toThrow(ScheduleError);
  });
});

// --- against real PyTorch ---

interface Case {
  id: string;
  schedule: ScheduleInput;
  datasetSize: number;
  dropLast?: boolean;
  /** The run's length (a relative schedule resolves to it) and the fit of an epoch-time one. */
  epochs?: number;
  fit?: "truncate" | "fit";
  /** The torch.optim.lr_scheduler class make_scheduler must return. */
  expectClass: string;
}

const N = 256;
const CONSTANT_BATCH = { kind: "constant", size: 32 }; // 8 steps per epoch
const GROWING_BATCH = { kind: "step", size: 32, factor: 2, every: 4 }; // 8, 4, 2 steps

/**
 * Each LR family, per epoch and per step, with a constant and a growing batch. `builtin`
 * is the class expected per epoch and per step with a constant batch (8 steps per epoch);
 * per step with a growing batch the steps per epoch change, so LambdaLR (except one-cycle,
 * which PyTorch counts in steps as the compiler does).
 */
const FAMILIES: {
  name: string;
  lr: unknown;
  epoch: string;
  stepConst: string;
  stepGrow?: string;
}[] = [
  { name: "constant", lr: { kind: "constant", lr: 0.1 }, epoch: "LambdaLR", stepConst: "LambdaLR" },
  {
    name: "step",
    lr: { kind: "step", lr: 0.1, stepSize: 3, gamma: 0.5 },
    epoch: "StepLR",
    stepConst: "StepLR",
  },
  {
    name: "step-2.5",
    lr: { kind: "step", lr: 0.1, stepSize: 2.5, gamma: 0.5 },
    epoch: "LambdaLR",
    stepConst: "StepLR",
  },
  {
    name: "step-2.3",
    lr: { kind: "step", lr: 0.1, stepSize: 2.3, gamma: 0.5 },
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
  {
    name: "multistep",
    lr: { kind: "multistep", lr: 0.2, milestones: [3, 7, 10], gamma: 0.3 },
    epoch: "MultiStepLR",
    stepConst: "MultiStepLR",
  },
  {
    name: "multistep-frac",
    lr: { kind: "multistep", lr: 0.2, milestones: [1.5, 4.2], gamma: 0.3 },
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
  {
    name: "exponential",
    lr: { kind: "exponential", lr: 0.1, gamma: 0.8 },
    epoch: "ExponentialLR",
    stepConst: "ExponentialLR",
  },
  {
    name: "cosine",
    lr: { kind: "cosine", lr: 0.1, tMax: 12, etaMin: 0.001 },
    epoch: "CosineAnnealingLR",
    stepConst: "CosineAnnealingLR",
  },
  {
    name: "cosine-past-tmax",
    lr: { kind: "cosine", lr: 0.1, tMax: 5 },
    epoch: "CosineAnnealingLR",
    stepConst: "CosineAnnealingLR",
  },
  {
    name: "cosine-frac",
    lr: { kind: "cosine", lr: 0.1, tMax: 10.3 },
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
  {
    name: "cosine-restarts-1",
    lr: { kind: "cosine-restarts", lr: 0.1, t0: 3, tMult: 1, etaMin: 0.01 },
    epoch: "CosineAnnealingWarmRestarts",
    stepConst: "CosineAnnealingWarmRestarts",
  },
  {
    name: "cosine-restarts-2",
    lr: { kind: "cosine-restarts", lr: 0.1, t0: 2, tMult: 2 },
    epoch: "CosineAnnealingWarmRestarts",
    stepConst: "CosineAnnealingWarmRestarts",
  },
  {
    name: "polynomial",
    lr: { kind: "polynomial", lr: 0.1, totalIters: 10, power: 2 },
    epoch: "PolynomialLR",
    stepConst: "PolynomialLR",
  },
  {
    name: "polynomial-sqrt",
    lr: { kind: "polynomial", lr: 0.1, totalIters: 12, power: 0.5 },
    epoch: "PolynomialLR",
    stepConst: "PolynomialLR",
  },
  {
    name: "linear-up",
    lr: { kind: "linear", lr: 0.1, startFactor: 0.25, endFactor: 1, totalIters: 4 },
    epoch: "LinearLR",
    stepConst: "LinearLR",
  },
  {
    name: "linear-down",
    lr: { kind: "linear", lr: 0.1, startFactor: 1, endFactor: 0.1, totalIters: 12 },
    epoch: "LinearLR",
    stepConst: "LinearLR",
  },
  {
    name: "linear-to-0",
    lr: { kind: "linear", lr: 0.1, startFactor: 1, endFactor: 0, totalIters: 6 },
    epoch: "LinearLR",
    stepConst: "LinearLR",
  },
  {
    name: "onecycle-cos",
    lr: { kind: "onecycle", maxLr: 0.5 },
    epoch: "OneCycleLR",
    stepConst: "OneCycleLR",
    stepGrow: "OneCycleLR",
  },
  {
    name: "onecycle-linear",
    lr: {
      kind: "onecycle",
      maxLr: 0.5,
      anneal: "linear",
      pctStart: 0.25,
      divFactor: 10,
      finalDivFactor: 100,
    },
    epoch: "OneCycleLR",
    stepConst: "OneCycleLR",
    stepGrow: "OneCycleLR",
  },
  {
    name: "onecycle-3phase",
    lr: { kind: "onecycle", maxLr: 0.5, threePhase: true },
    epoch: "OneCycleLR",
    stepConst: "OneCycleLR",
    stepGrow: "OneCycleLR",
  },
  {
    name: "onecycle-long",
    lr: { kind: "onecycle", maxLr: 0.5, epochs: 15.5 },
    epoch: "OneCycleLR",
    stepConst: "OneCycleLR",
    stepGrow: "OneCycleLR",
  },
  {
    name: "onecycle-short",
    lr: { kind: "onecycle", maxLr: 0.5, epochs: 7 },
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
  ...(["linear", "log", "cosine", "hold"] as const).map((interpolation) => ({
    name: `keyframes-${interpolation}`,
    lr: {
      kind: "keyframes",
      interpolation,
      points: [
        { epoch: 0, value: 0.1 },
        { epoch: 3, value: 0.5 },
        { epoch: 7.5, value: 0.01 },
        { epoch: 10, value: 0.02 },
      ],
    },
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  })),
  {
    name: "keyframes-mixed",
    lr: {
      kind: "keyframes",
      points: [
        { epoch: 0, value: 0.01, interpolation: "log" },
        { epoch: 2, value: 0.3, interpolation: "cosine" },
        { epoch: 6, value: 0.05, interpolation: "hold" },
        { epoch: 9, value: 0.002 },
        { epoch: 11, value: 0.2 },
      ],
    },
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
  {
    name: "warmup-cosine",
    lr: warmup(2, { kind: "cosine", lr: 0.1, tMax: 10 }, 0.1),
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
  {
    name: "warmup0-step",
    lr: warmup(1.5, { kind: "step", lr: 0.3, stepSize: 4, gamma: 0.1 }, 0),
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
  {
    name: "warmup-onecycle",
    lr: warmup(3, { kind: "onecycle", maxLr: 0.2, threePhase: true }), // default startFactor
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
  {
    name: "sequence",
    lr: {
      kind: "sequence",
      pieces: [
        { epochs: 2, schedule: { kind: "linear", lr: 0.2, startFactor: 0.1, totalIters: 2 } },
        { epochs: 4.5, schedule: { kind: "onecycle", maxLr: 0.3, anneal: "linear" } },
        { epochs: 2, schedule: { kind: "cosine-restarts", lr: 0.05, t0: 1, tMult: 2 } },
        { schedule: { kind: "exponential", lr: 0.05, gamma: 0.7 } },
      ],
    },
    epoch: "LambdaLR",
    stepConst: "LambdaLR",
  },
];

const SMOOTHING: { name: string; delta: unknown; extra?: Record<string, unknown> }[] = [
  { name: "stagewise", delta: { kind: "stagewise", gamma: Math.SQRT1_2, every: 3 } },
  { name: "poly-stages", delta: { kind: "polynomial", power: 0.5, stages: 4 } },
  { name: "poly-smooth", delta: { kind: "polynomial", power: 1 }, extra: { roundTo: 8 } },
  {
    name: "keyframes",
    delta: {
      kind: "keyframes",
      interpolation: "log",
      points: [
        { epoch: 0, value: 2 },
        { epoch: 6, value: 1 },
        { epoch: 12, value: 0.25 },
      ],
    },
    extra: { max: 96 },
  },
];

function buildCases(): Case[] {
  const cases: Case[] = [];
  for (const f of FAMILIES) {
    for (const per of ["epoch", "step"] as const) {
      for (const [batchName, batch] of [
        ["const", CONSTANT_BATCH],
        ["grow", GROWING_BATCH],
      ] as const) {
        const expectClass =
          per === "epoch"
            ? f.epoch
            : batchName === "const"
              ? f.stepConst
              : (f.stepGrow ?? "LambdaLR");
        cases.push({
          id: `${f.name} per ${per}, ${batchName} batch`,
          schedule: schedule(f.lr, { per, batch }),
          datasetSize: N,
          expectClass,
        });
      }
    }
  }
  for (const s of SMOOTHING) {
    for (const per of ["epoch", "step"] as const) {
      for (const split of [0, 0.5, 1]) {
        cases.push({
          id: `smoothing ${s.name} split ${split} per ${per}`,
          schedule: {
            version: 1,
            epochs: 12,
            per,
            smoothing: { delta: s.delta, split, lr: 0.1, batch: 16, ...s.extra },
          } as ScheduleInput,
          datasetSize: N,
          expectClass: "LambdaLR",
        });
      }
    }
  }
  // Every preset, per epoch and per step (N = 5,000: 40 steps per epoch at batch 128).
  const presetClass: Record<string, [string, string]> = {
    "paper-constant": ["LambdaLR", "LambdaLR"],
    "paper-lr-decay": ["StepLR", "StepLR"],
    "paper-batch-growth": ["LambdaLR", "LambdaLR"],
    "paper-hybrid": ["StepLR", "LambdaLR"],
    "poly-delta-0.5": ["LambdaLR", "LambdaLR"],
    "poly-delta-1": ["LambdaLR", "LambdaLR"],
    cosine: ["CosineAnnealingLR", "CosineAnnealingLR"],
    "warmup-cosine": ["LambdaLR", "LambdaLR"],
  };
  for (const p of PRESETS) {
    const expected = presetClass[p.name];
    if (!expected) throw new Error(`add preset ${p.name} to presetClass`);
    for (const per of ["epoch", "step"] as const) {
      cases.push({
        id: `preset ${p.name} per ${per}`,
        schedule: { ...p.schedule, per } as ScheduleInput,
        datasetSize: 5000,
        expectClass: per === "epoch" ? expected[0] : expected[1],
      });
    }
  }
  // A real-sized run (CIFAR-10: 391 steps per epoch, 78,200 steps): recursive built-ins
  // accumulate rounding over many steps.
  cases.push(
    {
      id: "preset warmup-cosine at N = 50,000",
      schedule: preset("warmup-cosine"),
      datasetSize: 50_000,
      expectClass: "LambdaLR",
    },
    {
      id: "preset cosine per step at N = 50,000",
      schedule: { ...preset("cosine"), per: "step" } as ScheduleInput,
      datasetSize: 50_000,
      expectClass: "CosineAnnealingLR",
    },
    {
      id: "exponential per step at N = 50,000",
      schedule: schedule(
        { kind: "exponential", lr: 0.1, gamma: 0.97 },
        { per: "step", epochs: 200, batch: { kind: "constant", size: 128 } },
      ),
      datasetSize: 50_000,
      expectClass: "ExponentialLR",
    },
    {
      id: "cosine past T_max per step, large T_max (LambdaLR)",
      schedule: schedule(
        { kind: "cosine", lr: 0.1, tMax: 60, etaMin: 0.001 },
        { per: "step", epochs: 100, batch: { kind: "constant", size: 128 } },
      ),
      datasetSize: 5000,
      expectClass: "LambdaLR",
    },
    {
      id: "polynomial per step with dropLast",
      schedule: schedule(
        { kind: "polynomial", lr: 0.1, totalIters: 30, power: 3 },
        { per: "step", epochs: 30, batch: { kind: "constant", size: 100 } },
      ),
      datasetSize: 5050,
      dropLast: true,
      expectClass: "PolynomialLR",
    },
  );
  // Relative presets resolved to short runs (their 5 stages in 10 or 7 epochs), an
  // epoch-time schedule fitted to a run, and per-run rates (exponential).
  const shortClass: Record<string, string> = {
    "paper-lr-decay": "StepLR",
    "paper-hybrid": "StepLR",
    "paper-batch-growth": "LambdaLR",
    cosine: "CosineAnnealingLR",
    "warmup-cosine": "LambdaLR",
    "poly-delta-0.5": "LambdaLR",
  };
  for (const [name, cls] of Object.entries(shortClass)) {
    for (const epochs of [10, 7]) {
      cases.push({
        id: `preset ${name} resolved to ${epochs} epochs`,
        schedule: preset(name),
        datasetSize: 5000,
        epochs,
        expectClass: epochs === 7 && cls === "StepLR" ? "LambdaLR" : cls,
      });
    }
  }
  cases.push(
    {
      id: "epoch-time hybrid (stages of 40 of 200) fitted to 10 epochs",
      schedule: {
        version: 1,
        epochs: 200,
        lr: { kind: "step", lr: 0.1, stepSize: 40, gamma: Math.sqrt(3) / 2 },
        batch: { kind: "step", size: 128, factor: 1.5, every: 40 },
      },
      datasetSize: 5000,
      epochs: 10,
      fit: "fit",
      expectClass: "StepLR",
    },
    {
      id: "relative exponential (gamma per run) per step at 12 epochs",
      schedule: {
        version: 2,
        time: "run",
        epochs: 100,
        per: "step",
        lr: { kind: "exponential", lr: 0.1, gamma: 0.01 },
        batch: { kind: "constant", size: 128 },
      },
      datasetSize: 5000,
      epochs: 12,
      expectClass: "ExponentialLR",
    },
  );
  return cases;
}

/** The step where |torch - compiled| is largest relative to the tolerance, and by how much. */
function worstMismatch(
  torchLrs: readonly number[],
  compiled: ArrayLike<number>,
  baseLr: number,
): { step: number; excess: number } {
  let step = -1;
  let excess = 0;
  for (let k = 0; k < compiled.length; k++) {
    const a = torchLrs[k] as number;
    const b = compiled[k] as number;
    const tol = 1e-9 * Math.max(Math.abs(a), Math.abs(b)) + 1e-12 * baseLr;
    const e = Math.abs(a - b) / tol;
    if (!(e <= excess)) {
      excess = e;
      step = k;
    }
  }
  return { step, excess };
}

/** A control: StepLR with gamma off by 3e-9 (relative) must fail the comparison. */
const CONTROL = {
  id: "control: gamma off by 3e-9",
  schedule: schedule({ kind: "step", lr: 0.1, stepSize: 3, gamma: 0.5 }),
  datasetSize: N,
};

function torchProblem(): string | null {
  const r = spawnSync(PYTHON, ["-c", "import torch; print(torch.__version__)"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.error) return `${PYTHON} could not be run (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} -c "import torch" failed:\n${r.stderr.trim()}`;
  return null;
}

const torchMissing = torchProblem();
const runTorch = torchMissing === null || Boolean(process.env.CI);
if (torchMissing !== null) {
  const msg = `PyTorch check: ${torchMissing}`;
  if (process.env.CI)
    console.error(`${msg}\nCI must install python3-torch (Debian) for ${PYTHON}.`);
  else console.warn(`${msg}\nSkipping the PyTorch comparison (install python3-torch to run it).`);
}

describe.runIf(runTorch)("exportPyTorch against real PyTorch", () => {
  const cases = buildCases();
  let dir = "";
  let torchVersion = "";
  let results: Record<
    string,
    { error?: string; lrs?: number[]; batches?: number[]; base_lr?: number; scheduler?: string }
  > = {};

  beforeAll(() => {
    if (torchMissing !== null) return;
    dir = mkdtempSync(join(tmpdir(), "sgd-studio-pytorch-"));
    const jobs = cases.map((c, i) => {
      const path = join(dir, `schedule_${i}.py`);
      writeFileSync(
        path,
        exportPyTorch(c.schedule, {
          datasetSize: c.datasetSize,
          dropLast: c.dropLast,
          epochs: c.epochs,
          fit: c.fit,
        }),
      );
      return { id: c.id, path };
    });
    const control = exportPyTorch(CONTROL.schedule, { datasetSize: CONTROL.datasetSize });
    if (!control.includes("gamma=0.5)")) throw new Error("control: StepLR gamma not found");
    const controlPath = join(dir, "control.py");
    writeFileSync(controlPath, control.replace("gamma=0.5)", "gamma=0.5000000015)"));
    jobs.push({ id: CONTROL.id, path: controlPath });
    const r = spawnSync(PYTHON, [HARNESS], {
      input: JSON.stringify(jobs),
      encoding: "utf8",
      maxBuffer: 1 << 30,
      timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`torch_harness.py failed (${r.status}):\n${r.stderr}`);
    const parsed = JSON.parse(r.stdout) as { torch: string; results: typeof results };
    torchVersion = parsed.torch;
    results = parsed.results;
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("PyTorch is installed (CI installs python3-torch)", () => {
    if (torchMissing !== null) {
      throw new Error(
        `${torchMissing}\nCI must have PyTorch for ${PYTHON} (apt-get install python3-torch).`,
      );
    }
    expect(torchVersion).toMatch(/^\d+\.\d+/);
  });

  it.each(cases.map((c) => [c.id, c] as const))("%s", (_id, c) => {
    if (torchMissing !== null) return;
    const got = results[c.id];
    expect(got, `no result for ${c.id}`).toBeDefined();
    if (!got || got.error) throw new Error(`PyTorch raised for ${c.id}:\n${got?.error}`);
    expect(got.scheduler).toBe(c.expectClass);

    const compiled = compileSchedule(c.schedule, {
      datasetSize: c.datasetSize,
      dropLast: c.dropLast,
      epochs: c.epochs,
      fit: c.fit,
    });
    if (c.epochs !== undefined) expect(compiled.totals.epochs).toBe(c.epochs);
    expect(got.batches).toEqual(compiled.epochs.map((r) => r.batchSize));
    const want = compiled.steps.lr;
    const lrs = got.lrs as number[];
    expect(lrs.length).toBe(want.length);
    const { step: w, excess } = worstMismatch(lrs, want, got.base_lr as number);
    if (excess > 1) {
      throw new Error(
        `${c.id}: PyTorch and the compiler disagree at step ${w} (epoch ${compiled.steps.epoch[w]}): ` +
          `torch ${lrs[w]} vs compiled ${want[w]} (${excess.toPrecision(3)}x the tolerance)`,
      );
    }
  });

  it("the comparison catches a 3e-9 relative error (control)", () => {
    if (torchMissing !== null) return;
    const got = results[CONTROL.id];
    expect(got?.error).toBeUndefined();
    expect(got?.scheduler).toBe("StepLR");
    const want = compileSchedule(CONTROL.schedule, { datasetSize: CONTROL.datasetSize }).steps.lr;
    const { excess } = worstMismatch(got?.lrs as number[], want, got?.base_lr as number);
    expect(excess).toBeGreaterThan(1);
  });
});
