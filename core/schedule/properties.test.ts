// Property tests: invariants that must hold for every schedule, not just chosen points.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileSchedule } from "./compile.js";
import { deltaRatioAt } from "./delta-trajectory.js";
import { PRESETS } from "./presets.js";
import type { DeltaSpec, ScheduleInput } from "./spec.js";

const deltaSpec: fc.Arbitrary<DeltaSpec> = fc.oneof(
  fc.record({
    kind: fc.constant("stagewise" as const),
    gamma: fc.double({ min: 0.3, max: 1, noNaN: true }),
    every: fc.integer({ min: 1, max: 10 }),
  }),
  fc.record({
    kind: fc.constant("polynomial" as const),
    power: fc.double({ min: 0.1, max: 3, noNaN: true }),
    stages: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
  }),
  fc
    .array(fc.double({ min: 0.05, max: 1, noNaN: true }), { minLength: 1, maxLength: 5 })
    // Non-increasing, as graduated optimization wants (a rising delta would shrink the batch).
    .map((values) => ({
      kind: "keyframes" as const,
      points: [...values].sort((a, b) => b - a).map((value, i) => ({ epoch: i * 3, value })),
      interpolation: "linear" as const,
    })),
);

describe("smoothing-first schedules", () => {
  it("lr / sqrt(batch) follows the delta trajectory exactly, at every step", () => {
    fc.assert(
      fc.property(
        deltaSpec,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom("epoch" as const, "step" as const),
        fc.option(fc.constantFrom(4, 8, 16), { nil: undefined }),
        fc.option(fc.integer({ min: 64, max: 400 }), { nil: undefined }),
        fc.integer({ min: 200, max: 3000 }),
        (delta, split, epochs, per, roundTo, max, N) => {
          const lr0 = 0.1;
          const b0 = 32;
          const c = compileSchedule(
            {
              version: 1,
              epochs,
              per,
              smoothing: { delta, split, lr: lr0, batch: b0, roundTo, max },
            },
            { datasetSize: N },
          );
          const stepsPerEpoch = c.epochs.map((r) => r.steps);
          let k = 0;
          for (let e = 0; e < epochs; e++) {
            const S = stepsPerEpoch[e] as number;
            for (let i = 0; i < S; i++, k++) {
              const t = per === "epoch" ? e : e + i / S;
              const target = deltaRatioAt(delta, t, epochs) * (lr0 / Math.sqrt(b0));
              const got = (c.steps.lr[k] as number) / Math.sqrt(c.steps.batchSize[k] as number);
              expect(Math.abs(got - target)).toBeLessThanOrEqual(1e-12 * (lr0 / Math.sqrt(b0)));
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("split 0 keeps the batch fixed; split 1 keeps the LR fixed", () => {
    for (const split of [0, 1]) {
      const c = compileSchedule(
        {
          version: 1,
          epochs: 200,
          smoothing: {
            delta: { kind: "stagewise", gamma: Math.SQRT1_2, every: 40 },
            split,
            lr: 0.1,
            batch: 128,
          },
        },
        { datasetSize: 50_000 },
      );
      const lrs = new Set(c.epochs.map((r) => r.lr));
      const bs = c.epochs.map((r) => r.batchSize);
      if (split === 0) {
        expect(new Set(bs)).toEqual(new Set([128]));
        expect(c.epochs[199]?.lr).toBeCloseTo(0.1 * Math.SQRT1_2 ** 4, 14);
      } else {
        expect([...new Set(bs)]).toEqual([128, 256, 512, 1024, 2048]);
        expect(lrs).toEqual(new Set([0.1])); // exactly: no rounding drift
      }
    }
  });

  it("a batch cap is compensated by extra LR decay (delta stays on target)", () => {
    const c = compileSchedule(
      {
        version: 1,
        epochs: 200,
        smoothing: {
          delta: { kind: "stagewise", gamma: Math.SQRT1_2, every: 40 },
          split: 1,
          lr: 0.1,
          batch: 128,
          max: 512,
        },
      },
      { datasetSize: 50_000 },
    );
    expect(c.epochs[199]?.batchSize).toBe(512);
    expect(c.epochs[199]?.delta).toBeCloseTo(0.25, 12);
    expect(c.epochs[199]?.lr).toBeCloseTo(0.05, 12);
    expect(c.warnings.find((w) => w.code === "batch-capped-max")?.message).toMatch(
      /learning rate decays further/,
    );
  });
});

const lrFamily = fc.oneof(
  fc.record({
    kind: fc.constant("step"),
    lr: fc.constant(0.1),
    stepSize: fc.integer({ min: 1, max: 5 }),
    gamma: fc.double({ min: 0.1, max: 1, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant("exponential"),
    lr: fc.constant(0.1),
    gamma: fc.double({ min: 0.5, max: 1, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant("cosine"),
    lr: fc.constant(0.1),
    tMax: fc.constant(1000),
    etaMin: fc.constant(0),
  }),
  fc.record({
    kind: fc.constant("polynomial"),
    lr: fc.constant(0.1),
    totalIters: fc.integer({ min: 1, max: 30 }),
    power: fc.double({ min: 0.1, max: 4, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant("linear"),
    lr: fc.constant(0.1),
    startFactor: fc.constant(1),
    endFactor: fc.double({ min: 0, max: 1, noNaN: true }),
    totalIters: fc.integer({ min: 1, max: 30 }),
  }),
  fc.uniqueArray(fc.integer({ min: 1, max: 25 }), { minLength: 1, maxLength: 4 }).map((m) => ({
    kind: "multistep",
    lr: 0.1,
    milestones: [...m].sort((a, b) => a - b),
    gamma: 0.5,
  })),
);

const batchGrowth = fc.oneof(
  fc.record({
    kind: fc.constant("step"),
    size: fc.integer({ min: 1, max: 256 }),
    factor: fc.double({ min: 1, max: 3, noNaN: true }),
    every: fc.integer({ min: 1, max: 10 }),
  }),
  fc.record({
    kind: fc.constant("exponential"),
    size: fc.integer({ min: 1, max: 256 }),
    rate: fc.double({ min: 1, max: 1.2, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant("polynomial"),
    size: fc.integer({ min: 1, max: 64 }),
    end: fc.integer({ min: 64, max: 2048 }),
    power: fc.double({ min: 0.2, max: 3, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant("constant"),
    size: fc.integer({ min: 1, max: 5000 }),
    roundTo: fc.constantFrom(1, 8),
  }),
);

describe("invariants of every compiled schedule", () => {
  it("monotone families are monotone (LR non-increasing, batch non-decreasing)", () => {
    fc.assert(
      fc.property(
        lrFamily,
        batchGrowth,
        fc.constantFrom("epoch" as const, "step" as const),
        (lr, batch, per) => {
          const c = compileSchedule({ version: 1, epochs: 30, per, lr, batch } as ScheduleInput, {
            datasetSize: 2000,
          });
          for (let k = 1; k < c.steps.lr.length; k++) {
            expect(c.steps.lr[k] as number).toBeLessThanOrEqual(
              (c.steps.lr[k - 1] as number) * (1 + 1e-12),
            );
          }
          for (let e = 1; e < c.epochs.length; e++) {
            expect(c.epochs[e]?.batchSize as number).toBeGreaterThanOrEqual(
              c.epochs[e - 1]?.batchSize as number,
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("steps x batch size covers the dataset each epoch (exactly once; dropLast: never more)", () => {
    fc.assert(
      fc.property(
        batchGrowth,
        fc.integer({ min: 1, max: 5000 }),
        fc.boolean(),
        (batch, N, dropLast) => {
          const c = compileSchedule(
            { version: 1, epochs: 12, lr: { kind: "constant", lr: 0.1 }, batch } as ScheduleInput,
            { datasetSize: N, dropLast },
          );
          let samples = 0;
          for (const row of c.epochs) {
            expect(row.batchSize).toBeGreaterThanOrEqual(1);
            expect(row.batchSize).toBeLessThanOrEqual(N);
            if (dropLast) {
              expect(row.steps * row.batchSize).toBeLessThanOrEqual(N);
              expect((row.steps + 1) * row.batchSize).toBeGreaterThan(N);
              samples += row.steps * row.batchSize;
            } else {
              expect(row.steps * row.batchSize).toBeGreaterThanOrEqual(N);
              expect((row.steps - 1) * row.batchSize).toBeLessThan(N);
              samples += N;
            }
            expect(row.samples).toBe(samples);
          }
          expect(c.totals.updates).toBe(c.epochs.reduce((s, r) => s + r.steps, 0));
          expect(c.steps.lr.length).toBe(c.totals.updates);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("every preset compiles, and the paper's three decaying presets end at delta/delta0 = 1/4", () => {
    for (const p of PRESETS) {
      const c = compileSchedule(p.schedule, { datasetSize: 50_000 });
      expect(c.epochs).toHaveLength(200);
      expect(Number.isFinite(c.totals.deltaEnd)).toBe(true);
      if (["paper-lr-decay", "paper-batch-growth", "paper-hybrid"].includes(p.name)) {
        // 5 stages, gamma = 1/sqrt(2): (1/sqrt(2))^4 = 1/4 in the last stage.
        expect(c.totals.deltaEnd).toBeCloseTo(0.25, 12);
        for (const e of [39, 40, 79, 80, 160]) {
          expect(c.epochs[e]?.delta).toBeCloseTo(Math.SQRT1_2 ** Math.floor(e / 40), 12);
        }
      }
    }
  });
});
