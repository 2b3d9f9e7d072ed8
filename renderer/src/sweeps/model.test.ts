import { describe, expect, it } from "vitest";
import type { SweepMember } from "../../../core/api/sweep";
import { colorAxis, computeMatched, configLabel, groupBySeed, valueAt } from "./model";

const member = (
  runId: string,
  values: Record<string, unknown>,
  acc: number | null,
  status = "completed",
) => ({ runId, values, finalTestAccuracy: acc, status }) as unknown as SweepMember;

describe("sweep view model", () => {
  it("groups seeds by every other axis with mean and std", () => {
    const groups = groupBySeed([
      member("a", { lr: 0.1, seed: 0 }, 0.8),
      member("b", { lr: 0.1, seed: 1 }, 0.6),
      member("c", { lr: 0.2, seed: 0 }, 0.5),
      member("d", { lr: 0.2, seed: 1 }, null, "failed"),
    ]);
    expect(groups.map((g) => [g.label, g.n])).toEqual([
      ["lr=0.1", 2],
      ["lr=0.2", 1],
    ]);
    expect(groups[0]?.mean).toBeCloseTo(0.7, 12);
    expect(groups[0]?.std).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(configLabel({ schedule: "paper-hybrid", seed: 3 })).toBe("schedule=paper-hybrid");
  });

  it("colors by schedule first, and compares at the least compute every member reached", () => {
    expect(colorAxis(["lr", "batchSize", "schedule"])).toBe("schedule");
    expect(colorAxis(["lr", "batchSize"])).toBe("batchSize");
    expect(colorAxis(["lr", "optimizer.kind"])).toBe("optimizer.kind");
    expect(valueAt([1, 2, 3], [10, 20, 30], 2.5)).toBe(20);
    const groups = groupBySeed([member("a", { b: 32 }, 0.9), member("b", { b: 64 }, 0.8)]);
    const series = new Map([
      ["a", { xs: [100, 200, 300], values: [0.5, 0.6, 0.9] }],
      ["b", { xs: [100, 200], values: [0.55, 0.8] }],
    ]);
    const m = computeMatched(groups, series);
    expect(m.budget).toBe(200);
    expect(m.rows.map((r) => r.accuracy)).toEqual([0.6, 0.8]);
  });
});
