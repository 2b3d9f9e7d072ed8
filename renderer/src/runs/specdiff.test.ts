import { describe, expect, it } from "vitest";
import { flatten, specDiff, stableStringify } from "./specdiff";

const a = {
  dataset: "default",
  model: "mlp",
  seed: 1,
  schedule: {
    version: 1,
    lr: { kind: "cosine", base: 0.1 },
    batch: { kind: "constant", size: 32 },
  },
  optimizer: { kind: "sgd" },
  noiseDirectEpochs: [],
};
const b = {
  ...a,
  seed: 2,
  schedule: { ...a.schedule, batch: { kind: "step", size: 32, factor: 2 } },
  optimizer: { kind: "momentum", momentum: 0.9 },
};

describe("spec diff", () => {
  it("flattens nested specs to dotted paths", () => {
    expect(flatten(a)).toMatchObject({
      "schedule.lr.kind": "cosine",
      "schedule.batch.size": 32,
      "optimizer.kind": "sgd",
      noiseDirectEpochs: [],
    });
    expect(flatten({ pieces: [{ k: 1 }, { k: 2 }], ms: [40, 80] })).toEqual({
      "pieces.0.k": 1,
      "pieces.1.k": 2,
      ms: [40, 80],
    });
  });

  it("shows every field, or only the ones that differ (a missing field differs)", () => {
    const all = specDiff([a, b]);
    expect(all.find((r) => r.path === "model")).toEqual({
      path: "model",
      values: ["mlp", "mlp"],
      differs: false,
    });
    const diff = specDiff([a, b], { onlyDifferences: true });
    expect(diff.map((r) => r.path)).toEqual([
      "seed",
      "schedule.batch.kind",
      "schedule.batch.factor",
      "optimizer.kind",
      "optimizer.momentum",
    ]);
    expect(diff.find((r) => r.path === "optimizer.momentum")?.values).toEqual(["–", "0.9"]);
    expect(diff.find((r) => r.path === "schedule.batch.factor")?.values).toEqual(["–", "2"]);
  });

  it("stable JSON ignores key order", () => {
    expect(stableStringify({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe(
      stableStringify({ a: [1, { c: 3, d: 2 }], b: 1 }),
    );
  });
});
