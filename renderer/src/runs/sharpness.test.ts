import { describe, expect, it } from "vitest";
import type { SharpnessRecord } from "../../../core/api/sharpness";
import { finalSharpness, sharpnessPoints, sharpnessRecords, sharpnessSettings } from "./sharpness";
import type { Run } from "./types";

function record(over: Partial<SharpnessRecord>): SharpnessRecord {
  return {
    variant: "adaptive",
    key: "sharpness",
    value: 0.01,
    loss: 0.5,
    norm: "linf",
    adaptive: true,
    rho: 0.0002,
    iterations: 20,
    examples: 1024,
    batchSize: 128,
    seed: 0,
    epoch: 4,
    when: "end",
    backend: "cpu",
    seconds: 3,
    at: "2026-12-05T00:00:00.000Z",
    ...over,
  };
}

function run(id: string, sharpness: unknown, testAccuracy: number | null = 0.8): Run {
  return {
    id,
    name: `run ${id}`,
    environment: { sharpness },
    final: { testAccuracy, trainLoss: null, trainAccuracy: null, testLoss: null },
  } as unknown as Run;
}

describe("final sharpness of a run", () => {
  it("is the value at the latest epoch, the last measured there; other keys and junk are ignored", () => {
    const r = run("a", [
      record({ epoch: 1, when: "every", key: "sharpnessOneStep", value: 0.5 }),
      record({ epoch: 4, value: 0.02 }),
      record({ epoch: 2, value: 0.9 }),
      record({ epoch: 4, value: 0.03, when: "on-demand", rho: 0.001 }),
      { key: "sharpness", value: "x" },
      null,
    ]);
    expect(sharpnessRecords(r)).toHaveLength(4);
    expect(finalSharpness(r, "sharpness")).toMatchObject({ value: 0.03, rho: 0.001 });
    expect(finalSharpness(r, "sharpnessOneStep")?.value).toBe(0.5);
    expect(finalSharpness(r, "sharpnessL2")).toBeNull();
    expect(finalSharpness(run("b", undefined), "sharpness")).toBeNull();
  });

  it("says what it was measured with", () => {
    expect(sharpnessSettings(record({}))).toBe(
      "‖d/|w|‖∞ ≤ 0.0002, 20 it., 1024 ex. (batch 128), seed 0",
    );
    expect(sharpnessSettings(record({ adaptive: false, norm: "l2", rho: 0.05 }))).toBe(
      "‖d‖₂ ≤ 0.05, 20 it., 1024 ex. (batch 128), seed 0",
    );
  });

  it("pairs with delta and accuracy per run; lists runs without a value and distinct settings", () => {
    const runs = [
      run("a", [record({ value: 0.02 })]),
      run("b", [record({ value: 0.05, rho: 0.001 })], 0.7),
      run("c", []),
    ];
    const { points, without, settings } = sharpnessPoints(
      runs,
      "sharpness",
      [{ runId: "a", label: "A", delta: 0.3, accuracy: 0.85 }],
      (r) => r.id.toUpperCase(),
    );
    expect(points.map((p) => [p.runId, p.label, p.sharpness, p.delta, p.accuracy])).toEqual([
      ["a", "A", 0.02, 0.3, 0.85],
      ["b", "B", 0.05, null, 0.7],
    ]);
    expect(without).toEqual(["c"]);
    expect(settings).toHaveLength(2);
  });
});
