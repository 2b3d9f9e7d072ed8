import { describe, expect, it } from "vitest";
import { deltaOf, deltaPoints, trapezoidMean } from "./paper";

describe("accuracy against delta", () => {
  it("averages delta over training by steps (trapezoid)", () => {
    // delta 1 for 100 steps, then 0.5 for 300 steps (a stage change).
    const xs = [0, 100, 100, 400];
    const ys = [1, 1, 0.5, 0.5];
    expect(trapezoidMean(xs, ys)).toBeCloseTo((100 * 1 + 300 * 0.5) / 400, 12);
    expect(trapezoidMean([5], [2])).toBe(2);
    expect(trapezoidMean([], [])).toBeNull();
  });

  it("takes the final delta or the mean", () => {
    const s = { xs: [0, 10, 20], values: [0.4, 0.2, Number.NaN] };
    expect(deltaOf(s, "final")).toBe(0.2);
    expect(deltaOf(s, "mean")).toBeCloseTo(0.3, 12);
  });

  it("one point per run that has both numbers; the others are listed", () => {
    const deltas = new Map([["a", { xs: [0, 1], values: [0.1, 0.1] }]]);
    const { points, missing } = deltaPoints(
      [
        { id: "a", label: "A", accuracy: 0.8 },
        { id: "b", label: "B", accuracy: 0.7 },
        { id: "c", label: "C", accuracy: null },
      ],
      deltas,
      "final",
    );
    expect(points).toEqual([{ runId: "a", label: "A", delta: 0.1, accuracy: 0.8 }]);
    expect(missing).toEqual(["b", "c"]);
  });
});
