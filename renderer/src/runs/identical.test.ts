import { describe, expect, it } from "vitest";
import { groupRows, meanStd } from "./grouptable";
import { identicalRuns, type KeyedSeries } from "./identical";
import type { MetricRow } from "./stats";

const s = (key: string, values: number[]): KeyedSeries => ({
  key,
  xs: values.map((_, i) => i),
  values,
});

describe("identical trajectories", () => {
  it("flags a run equal to an earlier one, point for point, on every key", () => {
    const series: Record<string, KeyedSeries[]> = {
      a: [s("loss", [3, 2, 1]), s("lr", [0.1, 0.1, 0.1])],
      b: [s("loss", [3, 2, 1.5]), s("lr", [0.1, 0.1, 0.1])],
      c: [s("loss", [3, 2, 1]), s("lr", [0.1, 0.1, 0.1])],
      d: [s("loss", [3, 2, 1]), s("lr", [0.1, 0.1, 0.1])],
      e: [s("loss", [3, 2, 1])],
    };
    const same = identicalRuns(["a", "b", "c", "d", "e"], (id) => series[id] ?? []);
    expect([...same]).toEqual([
      ["c", "a"],
      ["d", "a"],
    ]);
  });

  it("nothing loaded or one point is not 'identical'", () => {
    expect(identicalRuns(["a", "b"], () => []).size).toBe(0);
    expect(identicalRuns(["a", "b"], () => [s("loss", [1])]).size).toBe(0);
  });
});

describe("group mean +- std", () => {
  it("folds runs into their group per key", () => {
    const row = (runId: string, key: string, last: number, best: number): MetricRow => ({
      runId,
      label: runId,
      color: "#000",
      key,
      last,
      lastStep: 9,
      smoothedLast: null,
      best,
      bestStep: 5,
      bestX: 5,
      mode: "max",
    });
    const rows = [
      row("a", "acc", 0.8, 0.85),
      row("b", "acc", 0.9, 0.95),
      row("c", "acc", 0.5, 0.5),
    ];
    const groups = groupRows(rows, (id) =>
      id === "c" ? { label: "G2", color: "#f00" } : { label: "G1", color: "#00f" },
    );
    expect(groups).toHaveLength(2);
    expect(groups[0]).toMatchObject({ group: "G1", color: "#00f", key: "acc", runs: 2 });
    expect(groups[0]?.last.mean).toBeCloseTo(0.85, 12);
    expect(groups[0]?.last.std).toBeCloseTo(Math.sqrt(0.005), 12);
    expect(groups[1]).toMatchObject({ group: "G2", runs: 1, last: { mean: 0.5, std: null } });
    expect(meanStd([])).toEqual({ mean: null, std: null });
  });
});
