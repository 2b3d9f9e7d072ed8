// The landscape experiments, and the claim the README makes with numbers:
// on Rastrigin, with the default settings, a graduated schedule ends at the
// global minimum more often than the constant schedule with the same final delta.
import { describe, expect, it } from "vitest";
import {
  CONSTANT_FINAL_DELTA,
  compareWithConstant,
  DEFAULT_SCHEDULE_NAMES,
  defaultNoiseLevel,
  findLandscapeSchedule,
  type NamedSchedule,
  runExperiment,
  startOf,
} from "./experiment.js";
import { FUNCTION_NAMES } from "./functions.js";
import { rateDifference } from "./stats.js";

const named = (n: string): NamedSchedule => {
  const s = findLandscapeSchedule(n);
  if (!s) throw new Error(`no schedule ${n}`);
  return s;
};

const GRADUATED = ["paper-lr-decay", "paper-batch-growth", "paper-hybrid"] as const;

describe("landscape experiments", () => {
  it("the default comparison set: constant, constant at the final delta, the paper's decays, polynomial delta", () => {
    expect([...DEFAULT_SCHEDULE_NAMES]).toEqual([
      "paper-constant",
      "constant-final-delta",
      "paper-lr-decay",
      "paper-batch-growth",
      "paper-hybrid",
      "poly-delta-0.5",
      "poly-delta-1",
    ]);
    expect(named("constant-final-delta").schedule).toBe(CONSTANT_FINAL_DELTA);
  });

  it("200 seeds x the 7 default schedules run in well under a few seconds", () => {
    // CPU time, not wall time: other processes on a busy machine do not count.
    const cpu0 = process.cpuUsage();
    const r = runExperiment({ fn: "rastrigin", seeds: 200, trajectories: 24 });
    const cpu = process.cpuUsage(cpu0);
    const ms = (cpu.user + cpu.system) / 1000;
    // About 0.4 s on one laptop core; the bound leaves room for slow CI machines.
    expect(ms).toBeLessThan(3000);
    expect(r.schedules).toHaveLength(7);
    // About 0.4 s on a laptop core; the bound leaves room for slow CI machines.
    expect(ms).toBeLessThan(4000);
    for (const s of r.schedules) {
      expect(s.success.n).toBe(200);
      expect(s.trajectories).toHaveLength(24);
      expect(s.trajectories[0]).toHaveLength(2 * (s.epochs + 1));
      expect(s.perEpoch.delta).toHaveLength(s.epochs);
    }
  });

  it("is deterministic, and every schedule starts seed i at the same point", () => {
    const opts = {
      fn: "ackley" as const,
      seeds: 20,
      trajectories: 3,
      schedules: [named("paper-constant"), named("paper-hybrid")],
    };
    const a = runExperiment(opts);
    const b = runExperiment(opts);
    expect(a.schedules.map((s) => s.success)).toEqual(b.schedules.map((s) => s.success));
    expect(a.schedules[1]?.trajectories).toEqual(b.schedules[1]?.trajectories);
    for (let i = 0; i < 3; i++) {
      const [x, y] = startOf("ackley", 0, i);
      for (const s of a.schedules) {
        expect(s.trajectories[i]?.[0]).toBeCloseTo(x, 4);
        expect(s.trajectories[i]?.[1]).toBeCloseTo(y, 4);
      }
    }
    // Adding a schedule does not change another's results (noise streams are per schedule name).
    const c = runExperiment({ ...opts, schedules: [named("paper-hybrid")] });
    expect(c.schedules[0]?.success).toEqual(a.schedules[1]?.success);
  });

  it("the default noise levels give both kernels the same per-coordinate variance", () => {
    for (const fn of FUNCTION_NAMES) {
      expect(defaultNoiseLevel(fn, "gaussian")).toBeCloseTo(defaultNoiseLevel(fn, "ball") / 2, 9);
    }
    // Rastrigin: delta_0 = 0.04 * 0.1 * C / sqrt(128) = 0.4 with the ball.
    expect((0.004 * defaultNoiseLevel("rastrigin", "ball")) / Math.sqrt(128)).toBeCloseTo(0.4, 12);
  });

  it("Rastrigin, default settings, 200 seeds: graduated schedules beat the constant schedule at the same final delta", () => {
    const schedules = ["constant-final-delta", ...GRADUATED].map(named);
    const r = runExperiment({ fn: "rastrigin", seeds: 200, schedules });
    const [base, lrDecay] = r.schedules as [(typeof r.schedules)[0], (typeof r.schedules)[0]];
    // The same final delta (and, for LR decay, the same final LR and batch size).
    for (const s of r.schedules.slice(1)) expect(s.deltaEnd).toBeCloseTo(base.deltaEnd, 12);
    expect(lrDecay.finalLr).toBeCloseTo(base.finalLr, 12);
    expect(lrDecay.finalBatch).toBe(base.finalBatch);
    expect(lrDecay.updates).toBe(base.updates);
    const cmp = compareWithConstant(r);
    expect(cmp.map((c) => c.schedule)).toEqual([...GRADUATED]);
    for (const c of cmp) {
      expect(c.baseline).toBe("constant-final-delta");
      // The 95% interval of the difference in success rates excludes 0.
      expect(c.difference.lo).toBeGreaterThan(0);
    }
    // Wilson intervals: LR decay's is entirely above the constant's.
    expect(lrDecay.success.lo).toBeGreaterThan(base.success.hi);
    // Mean final value: the t intervals do not overlap either.
    for (const s of r.schedules.slice(1)) expect(s.finalValue.hi).toBeLessThan(base.finalValue.lo);
    // The README's numbers.
    expect(base.success.successes).toBe(4);
    expect(lrDecay.success.successes).toBe(22);
  });

  it("Rastrigin, 1000 seeds: the same, with narrower intervals", () => {
    const schedules = ["constant-final-delta", ...GRADUATED].map(named);
    const r = runExperiment({ fn: "rastrigin", seeds: 1000, schedules });
    const base = r.schedules[0];
    if (!base) throw new Error("no baseline");
    for (const s of r.schedules.slice(1)) {
      const d = rateDifference(s.success.successes, 1000, base.success.successes, 1000);
      expect(d.lo).toBeGreaterThan(0.03);
      expect(s.success.lo).toBeGreaterThan(base.success.hi);
    }
  });
});
