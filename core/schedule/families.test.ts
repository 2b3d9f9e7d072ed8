// Every family against its closed form at chosen points: boundaries, restarts, the last epoch.
// Expected values are written out by hand from PyTorch's documented formulas.
import { describe, expect, it } from "vitest";
import { compileSchedule } from "./compile.js";
import type { ScheduleInput } from "./spec.js";

const N = 1000;

/** Per-epoch LR of a schedule with a constant batch of 100 (10 steps per epoch). */
function lrs(lr: unknown, epochs: number, per: "epoch" | "step" = "epoch") {
  const c = compileSchedule(
    { version: 1, epochs, per, lr, batch: { kind: "constant", size: 100 } },
    { datasetSize: N },
  );
  return { epoch: c.epochs.map((r) => r.lr), step: Array.from(c.steps.lr) };
}

function batches(batch: unknown, epochs: number, datasetSize = 1_000_000) {
  const c = compileSchedule(
    { version: 1, epochs, lr: { kind: "constant", lr: 0.1 }, batch },
    { datasetSize },
  );
  return c.epochs.map((r) => r.batchSize);
}

describe("learning-rate families, per epoch", () => {
  it("constant", () => {
    expect(lrs({ kind: "constant", lr: 0.05 }, 3).epoch).toEqual([0.05, 0.05, 0.05]);
  });

  it("step (StepLR): changes exactly at multiples of stepSize", () => {
    const { epoch } = lrs({ kind: "step", lr: 0.1, stepSize: 3, gamma: 0.5 }, 10);
    expect(epoch[2]).toBeCloseTo(0.1, 15);
    expect(epoch[3]).toBeCloseTo(0.05, 15);
    expect(epoch[5]).toBeCloseTo(0.05, 15);
    expect(epoch[6]).toBeCloseTo(0.025, 15);
    expect(epoch[9]).toBeCloseTo(0.0125, 15);
  });

  it("multistep (MultiStepLR)", () => {
    const { epoch } = lrs({ kind: "multistep", lr: 1, milestones: [2, 5], gamma: 0.1 }, 7);
    expect(epoch.map((x) => Number(x.toPrecision(12)))).toEqual([1, 1, 0.1, 0.1, 0.1, 0.01, 0.01]);
  });

  it("exponential (ExponentialLR)", () => {
    const { epoch } = lrs({ kind: "exponential", lr: 0.2, gamma: 0.9 }, 5);
    expect(epoch[4]).toBeCloseTo(0.2 * 0.9 ** 4, 15);
  });

  it("cosine (CosineAnnealingLR): half-way, end, and periodic after T_max", () => {
    const { epoch } = lrs({ kind: "cosine", lr: 0.1, tMax: 10, etaMin: 0.001 }, 21);
    expect(epoch[0]).toBeCloseTo(0.1, 15);
    expect(epoch[5]).toBeCloseTo(0.001 + (0.099 * (1 + Math.cos(Math.PI / 2))) / 2, 15);
    expect(epoch[10]).toBeCloseTo(0.001, 15);
    // PyTorch's CosineAnnealingLR keeps following the cosine past T_max: back up at 2*T_max.
    expect(epoch[20]).toBeCloseTo(0.1, 12);
  });

  it("cosine with warm restarts (T_mult = 2): restarts at 4 and 12", () => {
    const { epoch } = lrs({ kind: "cosine-restarts", lr: 1, t0: 4, tMult: 2 }, 14);
    expect(epoch[3]).toBeCloseTo((1 + Math.cos((Math.PI * 3) / 4)) / 2, 14);
    expect(epoch[4]).toBeCloseTo(1, 14); // first restart
    expect(epoch[8]).toBeCloseTo(0.5, 14); // half of the 8-epoch cycle
    expect(epoch[12]).toBeCloseTo(1, 14); // second restart
    expect(epoch[13]).toBeCloseTo((1 + Math.cos(Math.PI / 16)) / 2, 14);
  });

  it("cosine with warm restarts (T_mult = 1): period T_0", () => {
    const { epoch } = lrs({ kind: "cosine-restarts", lr: 1, t0: 3, etaMin: 0.1 }, 7);
    expect(epoch[3]).toBeCloseTo(1, 14);
    expect(epoch[6]).toBeCloseTo(1, 14);
    expect(epoch[5]).toBeCloseTo(0.1 + (0.9 * (1 + Math.cos((2 * Math.PI) / 3))) / 2, 14);
  });

  it("polynomial (PolynomialLR): reaches 0 at total_iters and stays", () => {
    const { epoch } = lrs({ kind: "polynomial", lr: 0.1, totalIters: 4, power: 2 }, 6);
    expect(epoch[1]).toBeCloseTo(0.1 * 0.75 ** 2, 15);
    expect(epoch[4]).toBe(0);
    expect(epoch[5]).toBe(0);
  });

  it("linear (LinearLR) with PyTorch's defaults (1/3 -> 1 over 5)", () => {
    const { epoch } = lrs({ kind: "linear", lr: 0.3 }, 7);
    expect(epoch[0]).toBeCloseTo(0.1, 15);
    expect(epoch[1]).toBeCloseTo(0.3 * (1 / 3 + (2 / 3) * 0.2), 15);
    expect(epoch[5]).toBeCloseTo(0.3, 15);
    expect(epoch[6]).toBeCloseTo(0.3, 15);
  });

  it("one-cycle (OneCycleLR, cos): initial, peak at pct*total - 1, minimum at the last step", () => {
    const { epoch } = lrs(
      { kind: "onecycle", maxLr: 1, pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4 },
      10,
    );
    expect(epoch[0]).toBeCloseTo(1 / 25, 15);
    expect(epoch[2]).toBeCloseTo(1, 12); // end of phase 1: 0.3 * 10 - 1 = 2
    expect(epoch[9]).toBeCloseTo(1 / 25 / 1e4, 15);
    // phase 2 at step 6: pct = (6 - 2) / (9 - 2)
    const pct = 4 / 7;
    expect(epoch[6]).toBeCloseTo(
      1e-4 / 25 + ((1 - 1e-4 / 25) / 2) * (Math.cos(Math.PI * pct) + 1),
      14,
    );
  });

  it("one-cycle, linear anneal, three phases", () => {
    const { epoch } = lrs(
      { kind: "onecycle", maxLr: 1, pctStart: 0.25, anneal: "linear", threePhase: true },
      20,
    );
    expect(epoch[0]).toBeCloseTo(0.04, 15);
    expect(epoch[4]).toBeCloseTo(1, 12); // 0.25 * 20 - 1
    expect(epoch[8]).toBeCloseTo(0.04, 12); // 2 * 0.25 * 20 - 2
    expect(epoch[19]).toBeCloseTo(0.04 / 1e4, 14);
    expect(epoch[2]).toBeCloseTo(0.04 + 0.96 * 0.5, 12);
  });

  it("keyframes: linear, log, cosine, hold, and per-point overrides", () => {
    const pts = [
      { epoch: 0, value: 1 },
      { epoch: 4, value: 0.01 },
    ];
    expect(lrs({ kind: "keyframes", points: pts }, 6).epoch[2]).toBeCloseTo(0.505, 14);
    expect(lrs({ kind: "keyframes", points: pts, interpolation: "log" }, 6).epoch[2]).toBeCloseTo(
      0.1,
      14,
    );
    expect(
      lrs({ kind: "keyframes", points: pts, interpolation: "cosine" }, 6).epoch[1],
    ).toBeCloseTo(0.01 + (0.99 * (1 + Math.cos(Math.PI / 4))) / 2, 14);
    expect(lrs({ kind: "keyframes", points: pts, interpolation: "hold" }, 6).epoch[3]).toBe(1);
    const mixed = lrs(
      {
        kind: "keyframes",
        points: [
          { epoch: 0, value: 1, interpolation: "hold" },
          { epoch: 2, value: 0.5 },
          { epoch: 4, value: 0.1 },
        ],
      },
      6,
    ).epoch;
    expect(mixed.slice(0, 2)).toEqual([1, 1]);
    expect(mixed[3]).toBeCloseTo(0.3, 14);
    expect(mixed[5]).toBeCloseTo(0.1, 14); // holds after the last point
  });

  it("warmup in front of any schedule: ramps to the inner schedule's first LR, then shifts its time", () => {
    const { epoch } = lrs(
      {
        kind: "warmup",
        epochs: 2,
        startFactor: 0.1,
        schedule: { kind: "step", lr: 1, stepSize: 3, gamma: 0.5 },
      },
      8,
    );
    expect(epoch[0]).toBeCloseTo(0.1, 15);
    expect(epoch[1]).toBeCloseTo(0.55, 15);
    expect(epoch[2]).toBeCloseTo(1, 15); // inner t = 0
    expect(epoch[4]).toBeCloseTo(1, 15); // inner t = 2
    expect(epoch[5]).toBeCloseTo(0.5, 15); // inner t = 3: first step
  });

  it("sequence: each piece counts time from its own start", () => {
    const { epoch } = lrs(
      {
        kind: "sequence",
        pieces: [
          { epochs: 3, schedule: { kind: "constant", lr: 0.3 } },
          { epochs: 4, schedule: { kind: "cosine", lr: 0.2, tMax: 4 } },
          { schedule: { kind: "exponential", lr: 0.01, gamma: 0.5 } },
        ],
      },
      10,
    );
    expect(epoch[2]).toBe(0.3);
    expect(epoch[3]).toBeCloseTo(0.2, 15);
    expect(epoch[5]).toBeCloseTo(0.1, 15);
    expect(epoch[7]).toBeCloseTo(0.01, 15);
    expect(epoch[9]).toBeCloseTo(0.0025, 15);
  });

  it("one-cycle inside a sequence spans its piece", () => {
    const { epoch } = lrs(
      {
        kind: "sequence",
        pieces: [
          { epochs: 10, schedule: { kind: "onecycle", maxLr: 1, pctStart: 0.3 } },
          { schedule: { kind: "constant", lr: 0.001 } },
        ],
      },
      12,
    );
    expect(epoch[2]).toBeCloseTo(1, 12);
    expect(epoch[9]).toBeCloseTo(1 / 25 / 1e4, 15);
    expect(epoch[10]).toBe(0.001);
  });
});

describe("learning-rate families, per step", () => {
  it("evaluates at epoch + i / steps; per-epoch families stay piecewise constant", () => {
    const cos = lrs({ kind: "cosine", lr: 1, tMax: 2 }, 2, "step").step;
    expect(cos).toHaveLength(20);
    expect(cos[5]).toBeCloseTo((1 + Math.cos((Math.PI * 0.5) / 2)) / 2, 15);
    expect(cos[10]).toBeCloseTo(0.5, 15);
    const step = lrs({ kind: "step", lr: 1, stepSize: 1, gamma: 0.5 }, 2, "step").step;
    expect(step.slice(0, 10).every((x) => x === 1)).toBe(true);
    expect(step.slice(10).every((x) => x === 0.5)).toBe(true);
  });

  it("one-cycle counts optimizer steps like PyTorch's total_steps", () => {
    // 2 epochs x 10 steps = 20 steps; peak at 0.3 * 20 - 1 = 5, minimum at step 19.
    const oc = lrs({ kind: "onecycle", maxLr: 1 }, 2, "step").step;
    expect(oc[0]).toBeCloseTo(0.04, 15);
    expect(oc[5]).toBeCloseTo(1, 12);
    expect(oc[19]).toBeCloseTo(0.04 / 1e4, 15);
  });

  it("warmup is linear over its steps", () => {
    const w = lrs(
      { kind: "warmup", epochs: 1, startFactor: 0, schedule: { kind: "constant", lr: 1 } },
      2,
      "step",
    ).step;
    expect(w[0]).toBe(0);
    expect(w[5]).toBeCloseTo(0.5, 15);
    expect(w[10]).toBe(1);
  });
});

describe("batch-size families", () => {
  it("constant, step growth, multistep", () => {
    expect(batches({ kind: "constant", size: 64 }, 3)).toEqual([64, 64, 64]);
    expect(batches({ kind: "step", size: 32, factor: 2, every: 2 }, 6)).toEqual([
      32, 32, 64, 64, 128, 128,
    ]);
    expect(batches({ kind: "multistep", size: 10, milestones: [1, 3], factor: 3 }, 4)).toEqual([
      10, 30, 30, 90,
    ]);
  });

  it("exponential and polynomial growth, rounded to whole numbers", () => {
    expect(batches({ kind: "exponential", size: 100, rate: 1.1 }, 3)).toEqual([100, 110, 121]);
    // size + (end - size) * (e / E)^2 with E = 5 epochs
    expect(batches({ kind: "polynomial", size: 100, end: 500, power: 2 }, 5)).toEqual([
      100, 116, 164, 244, 356,
    ]);
    expect(batches({ kind: "polynomial", size: 100, end: 500, epochs: 2 }, 4)).toEqual([
      100, 300, 500, 500,
    ]);
  });

  it("keyframes hold by default and can interpolate log-linearly", () => {
    const pts = [
      { epoch: 0, value: 16 },
      { epoch: 4, value: 256 },
    ];
    expect(batches({ kind: "keyframes", points: pts }, 5)).toEqual([16, 16, 16, 16, 256]);
    expect(batches({ kind: "keyframes", points: pts, interpolation: "log" }, 5)).toEqual([
      16, 32, 64, 128, 256,
    ]);
  });

  it("rounds to a multiple, caps by max and by the dataset size, with warnings", () => {
    expect(batches({ kind: "exponential", size: 100, rate: 1.1, roundTo: 8 }, 3)).toEqual([
      104, 112, 120,
    ]);
    const c = compileSchedule(
      {
        version: 1,
        epochs: 5,
        lr: { kind: "constant", lr: 0.1 },
        batch: { kind: "step", size: 256, factor: 2, every: 1, max: 1024 },
      },
      { datasetSize: 600 },
    );
    expect(c.epochs.map((r) => r.batchSize)).toEqual([256, 512, 600, 600, 600]);
    expect(c.epochs.map((r) => r.steps)).toEqual([3, 2, 1, 1, 1]);
    expect(c.warnings.map((w) => w.code)).toContain("batch-capped-dataset");
    const capped = compileSchedule(
      {
        version: 1,
        epochs: 5,
        lr: { kind: "constant", lr: 0.1 },
        batch: { kind: "step", size: 256, factor: 2, every: 1, max: 1024 },
      },
      { datasetSize: 100_000 },
    );
    expect(capped.epochs.map((r) => r.batchSize)).toEqual([256, 512, 1024, 1024, 1024]);
    // 256 * 4 = 1024 fits exactly; epoch 3 (2048) is the first one capped.
    expect(capped.warnings.find((w) => w.code === "batch-capped-max")?.epoch).toBe(3);
  });
});

describe("compiler", () => {
  const base: ScheduleInput = {
    version: 1,
    epochs: 3,
    lr: { kind: "step", lr: 0.1, stepSize: 1, gamma: 0.5 },
    batch: { kind: "step", size: 300, factor: 2, every: 1 },
  };

  it("per-epoch table: steps from ceil(N/b), cumulative samples, delta/delta0", () => {
    const c = compileSchedule(base, { datasetSize: 1000 });
    expect(c.epochs).toEqual([
      { epoch: 0, lr: 0.1, batchSize: 300, steps: 4, samples: 1000, delta: 1 },
      {
        epoch: 1,
        lr: 0.05,
        batchSize: 600,
        steps: 2,
        samples: 2000,
        delta: expect.closeTo(0.5 / Math.sqrt(2), 14),
      },
      { epoch: 2, lr: 0.025, batchSize: 1000, steps: 1, samples: 3000, delta: expect.any(Number) },
    ]);
    expect(c.totals.updates).toBe(7);
    expect(c.totals.samples).toBe(3000);
    expect(c.deltaRelative).toBe(true);
    expect(c.steps.epoch).toEqual(Int32Array.from([0, 0, 0, 0, 1, 1, 2]));
  });

  it("dropLast uses floor(N/b) and counts only the samples used", () => {
    const c = compileSchedule(base, { datasetSize: 1000, dropLast: true });
    expect(c.epochs.map((r) => r.steps)).toEqual([3, 1, 1]);
    expect(c.totals.samples).toBe(900 + 600 + 1000);
    expect(c.warnings.map((w) => w.code)).toContain("drop-last-discards");
  });

  it("absolute delta = lr * C / sqrt(b) when C is given", () => {
    const c = compileSchedule(base, { datasetSize: 1000, noise: { c: 4 } });
    expect(c.deltaRelative).toBe(false);
    expect(c.epochs[0]?.delta).toBeCloseTo((0.1 * 4) / Math.sqrt(300), 15);
    expect(c.epochs[1]?.delta).toBeCloseTo((0.05 * 4) / Math.sqrt(600), 15);
  });

  it("warns when the LR reaches zero, naming the step", () => {
    const c = compileSchedule(
      {
        version: 1,
        epochs: 4,
        lr: { kind: "polynomial", lr: 0.1, totalIters: 3 },
        batch: { kind: "constant", size: 100 },
      },
      { datasetSize: 1000 },
    );
    const w = c.warnings.find((x) => x.code === "lr-zero");
    expect(w?.step).toBe(30);
    expect(w?.epoch).toBe(3);
  });

  it("a shrinking batch schedule that falls below 1 is an error naming the epoch", () => {
    expect(() =>
      compileSchedule(
        {
          version: 1,
          epochs: 10,
          lr: { kind: "constant", lr: 0.1 },
          batch: { kind: "step", size: 8, factor: 0.5, every: 1 },
        },
        { datasetSize: 1000 },
      ),
    ).toThrow(/batch size falls to 0\.500 at epoch 4/);
  });

  it("rejects a dataset size that is not a positive whole number", () => {
    expect(() => compileSchedule(base, { datasetSize: 0 })).toThrow(/dataset size/);
  });
});
