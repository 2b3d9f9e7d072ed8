/**
 * Schedules relative to the run: the presets keep their shape at any length
 * and equal the paper's epoch-time schedules exactly at 200 epochs; an
 * epoch-time schedule of another length is truncated or fitted, with a warning.
 */
import { describe, expect, it } from "vitest";
import { type CompiledSchedule, compileSchedule } from "./compile.js";
import { findPreset, PRESETS } from "./presets.js";
import { resolveRunLength, toRelative } from "./relative.js";
import type { ScheduleInput } from "./spec.js";
import { parseSchedule } from "./validate.js";

const S2 = Math.SQRT1_2;
/** The presets as they were written before they became relative: 200 epochs, stages of 40. */
const ABSOLUTE: Record<string, ScheduleInput> = {
  "paper-constant": {
    version: 1,
    epochs: 200,
    lr: { kind: "constant", lr: 0.1 },
    batch: { kind: "constant", size: 128 },
  },
  "paper-lr-decay": {
    version: 1,
    epochs: 200,
    lr: { kind: "step", lr: 0.1, stepSize: 40, gamma: S2 },
    batch: { kind: "constant", size: 128 },
  },
  "paper-batch-growth": {
    version: 1,
    epochs: 200,
    lr: { kind: "constant", lr: 0.1 },
    batch: { kind: "step", size: 128, factor: 2, every: 40 },
  },
  "paper-hybrid": {
    version: 1,
    epochs: 200,
    lr: { kind: "step", lr: 0.1, stepSize: 40, gamma: Math.sqrt(3) / 2 },
    batch: { kind: "step", size: 128, factor: 1.5, every: 40 },
  },
  "poly-delta-0.5": {
    version: 1,
    epochs: 200,
    smoothing: {
      delta: { kind: "polynomial", power: 0.5, stages: 5 },
      split: 0.5,
      lr: 0.1,
      batch: 128,
    },
  },
  "poly-delta-1": {
    version: 1,
    epochs: 200,
    smoothing: {
      delta: { kind: "polynomial", power: 1, stages: 5 },
      split: 0.5,
      lr: 0.1,
      batch: 128,
    },
  },
  cosine: {
    version: 1,
    epochs: 200,
    lr: { kind: "cosine", lr: 0.1, tMax: 200, etaMin: 0 },
    batch: { kind: "constant", size: 128 },
  },
  "warmup-cosine": {
    version: 1,
    epochs: 200,
    per: "step",
    lr: {
      kind: "warmup",
      epochs: 5,
      startFactor: 0.01,
      schedule: { kind: "cosine", lr: 0.1, tMax: 195, etaMin: 0 },
    },
    batch: { kind: "constant", size: 128 },
  },
};

function preset(name: string): ScheduleInput {
  const p = findPreset(name);
  if (!p) throw new Error(name);
  return p.schedule;
}

/** Stages: runs of equal (lr, batch) over the epochs. */
function stages(c: CompiledSchedule): { from: number; lr: number; batch: number }[] {
  const out: { from: number; lr: number; batch: number }[] = [];
  for (const r of c.epochs) {
    const last = out.at(-1);
    if (!last || last.lr !== r.lr || last.batch !== r.batchSize)
      out.push({ from: r.epoch, lr: r.lr, batch: r.batchSize });
  }
  return out;
}

describe("relative presets", () => {
  it("every preset is relative to the run", () => {
    for (const p of PRESETS) expect(parseSchedule(p.schedule).time, p.name).toBe("run");
  });

  for (const N of [50_000, 10_000]) {
    it(`equal the paper's epoch-time schedules exactly at 200 epochs (N = ${N})`, () => {
      for (const p of PRESETS) {
        const rel = compileSchedule(p.schedule, { datasetSize: N });
        const abs = compileSchedule(ABSOLUTE[p.name], { datasetSize: N });
        expect(rel.length.mode, p.name).toBe("relative");
        expect(rel.epochs, p.name).toEqual(abs.epochs);
        expect(Array.from(rel.steps.lr), p.name).toEqual(Array.from(abs.steps.lr));
        expect(Array.from(rel.steps.batchSize), p.name).toEqual(Array.from(abs.steps.batchSize));
        expect(Array.from(rel.steps.delta), p.name).toEqual(Array.from(abs.steps.delta));
        expect(rel.totals, p.name).toEqual(abs.totals);
        expect(rel.warnings, p.name).toEqual(abs.warnings);
        // Also when the run's length is given explicitly.
        const at200 = compileSchedule(p.schedule, { datasetSize: N, epochs: 200 });
        expect(Array.from(at200.steps.lr), p.name).toEqual(Array.from(abs.steps.lr));
      }
    });
  }

  it("keep the paper's 5 stages of a fifth of the run at 5, 10 and 50 epochs", () => {
    const g = S2;
    for (const E of [5, 10, 50]) {
      const per = E / 5;
      const cases: [string, (m: number) => { lr: number; batch: number }][] = [
        ["paper-lr-decay", (m) => ({ lr: 0.1 * g ** m, batch: 128 })],
        ["paper-batch-growth", (m) => ({ lr: 0.1, batch: 128 * 2 ** m })],
        [
          "paper-hybrid",
          (m) => ({ lr: 0.1 * (Math.sqrt(3) / 2) ** m, batch: Math.round(128 * 1.5 ** m) }),
        ],
      ];
      for (const [name, want] of cases) {
        const c = compileSchedule(preset(name), { datasetSize: 10_000, epochs: E });
        expect(c.totals.epochs).toBe(E);
        const st = stages(c);
        expect(
          st.map((s) => s.from),
          `${name} at ${E}`,
        ).toEqual([0, 1, 2, 3, 4].map((m) => m * per));
        st.forEach((s, m) => {
          expect(s.lr).toBeCloseTo(want(m).lr, 14);
          expect(s.batch).toBe(want(m).batch);
        });
        // delta falls by 1/sqrt(2) per stage, whichever way it is taken.
        const d = c.epochs.filter((r) => r.epoch % per === 0).map((r) => r.delta);
        for (let m = 1; m < 5; m++)
          expect((d[m] as number) / (d[m - 1] as number)).toBeCloseTo(g, 2);
        expect(c.warnings.map((w) => w.code)).not.toContain("run-truncated");
      }
    }
  });

  it("four different runs at 5 epochs", () => {
    const key = (n: string) => {
      const c = compileSchedule(preset(n), { datasetSize: 10_000, epochs: 5 });
      return JSON.stringify(c.epochs.map((r) => [r.lr, r.batchSize]));
    };
    const keys = ["paper-constant", "paper-lr-decay", "paper-batch-growth", "paper-hybrid"].map(
      key,
    );
    expect(new Set(keys).size).toBe(4);
  });

  it("cosine spans the run: 0 at its end whatever its length", () => {
    for (const E of [5, 30]) {
      const c = compileSchedule(preset("cosine"), { datasetSize: 1000, epochs: E });
      expect(c.epochs[0]?.lr).toBe(0.1);
      const half = compileSchedule(preset("cosine"), { datasetSize: 1000, epochs: 2 * E });
      expect(half.epochs[E]?.lr).toBeCloseTo(0.05, 12);
    }
  });
});

describe("epoch-time schedules of another length", () => {
  const abs = ABSOLUTE["paper-hybrid"];

  it("truncate (the default) keeps the first epochs and warns in words", () => {
    const c = compileSchedule(abs, { datasetSize: 10_000, epochs: 5 });
    expect(c.length).toEqual({ mode: "truncate", scheduleEpochs: 200, runEpochs: 5 });
    expect(c.totals.epochs).toBe(5);
    expect(new Set(c.epochs.map((r) => r.lr)).size).toBe(1);
    const w = c.warnings.find((x) => x.code === "run-truncated");
    expect(w?.message).toContain("LR and batch never change in these 5 epochs");
    expect(w?.message).toContain("200-epoch schedule");
  });

  it("truncate that keeps some changes says which lane never changes", () => {
    const c = compileSchedule(
      { ...abs, lr: { kind: "cosine", lr: 0.1, tMax: 200 } } as ScheduleInput,
      { datasetSize: 10_000, epochs: 5 },
    );
    expect(c.warnings.find((x) => x.code === "run-truncated")?.message).toContain(
      "the batch never changes in these 5 epochs",
    );
  });

  it("fit stretches it to the run: the same as the relative preset", () => {
    const fit = compileSchedule(abs, { datasetSize: 10_000, epochs: 10, fit: "fit" });
    const rel = compileSchedule(preset("paper-hybrid"), { datasetSize: 10_000, epochs: 10 });
    expect(fit.length.mode).toBe("fit");
    expect(fit.epochs).toEqual(rel.epochs);
    expect(fit.warnings).toEqual([]);
  });

  it("a longer run warns that the schedule's formulas continue", () => {
    const c = compileSchedule(abs, { datasetSize: 10_000, epochs: 250 });
    expect(c.length.mode).toBe("extend");
    expect(c.warnings.map((w) => w.code)).toContain("run-extended");
  });

  it("exact length: no warning", () => {
    const c = compileSchedule(abs, { datasetSize: 10_000, epochs: 200 });
    expect(c.length.mode).toBe("exact");
    expect(c.warnings.filter((w) => w.code.startsWith("run-"))).toEqual([]);
  });
});

describe("the format", () => {
  it("version 1 files load unchanged; time needs version 2", () => {
    expect(parseSchedule(abs1()).version).toBe(1);
    expect(() => parseSchedule({ ...abs1(), time: "run" })).toThrow(/needs version 2/);
    expect(parseSchedule({ ...abs1(), version: 2 }).time).toBeUndefined();
    expect(() => parseSchedule({ ...abs1(), version: 2, time: "fortnights" })).toThrow(
      /time must be "epochs" or "run"/,
    );
  });

  it("resolving gives a version 1 document of the run's length", () => {
    const { schedule, length } = resolveRunLength(parseSchedule(preset("warmup-cosine")), {
      epochs: 40,
    });
    expect(schedule.version).toBe(1);
    expect(schedule.time).toBeUndefined();
    expect(schedule.epochs).toBe(40);
    expect(schedule.lr).toMatchObject({ kind: "warmup", epochs: 1, schedule: { tMax: 39 } });
    expect(length).toEqual({ mode: "relative", scheduleEpochs: 200, runEpochs: 40 });
    // The resolved document validates as an ordinary one.
    expect(parseSchedule(schedule)).toEqual(schedule);
  });

  it("rates per unit of time scale with the run: exponential ends where it would", () => {
    const rel = {
      version: 2,
      time: "run",
      epochs: 100,
      lr: { kind: "exponential", lr: 0.1, gamma: 0.01 },
      batch: { kind: "exponential", size: 32, rate: 16 },
    };
    for (const E of [10, 100]) {
      const c = compileSchedule(rel, { datasetSize: 5000, epochs: E });
      // gamma 0.01 over the whole run: at epoch E-1 the LR is 0.1 * 0.01^((E-1)/E).
      expect(c.epochs.at(-1)?.lr).toBeCloseTo(0.1 * 0.01 ** ((E - 1) / E), 12);
      expect(c.epochs.at(-1)?.batchSize).toBe(Math.round(32 * 16 ** ((E - 1) / E)));
    }
  });

  it("toRelative then resolve gives back an epoch-time schedule", () => {
    const s = parseSchedule(ABSOLUTE["paper-hybrid"]);
    const r = toRelative(s);
    expect(r).toMatchObject({ version: 2, time: "run", lr: { stepSize: 0.2 } });
    const back = compileSchedule(r, { datasetSize: 10_000 });
    expect(back.epochs).toEqual(compileSchedule(s, { datasetSize: 10_000 }).epochs);
  });
});

function abs1(): ScheduleInput {
  return ABSOLUTE["paper-lr-decay"] as ScheduleInput;
}
