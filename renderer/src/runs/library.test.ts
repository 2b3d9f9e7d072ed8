import { describe, expect, it } from "vitest";
import { allTags, filterRuns, matchesSearch, runDuration, sortRuns } from "./library";
import type { Run } from "./types";

function run(over: Partial<Run>): Run {
  return {
    id: "20261128-120000-aaaaaa",
    name: "cosine",
    scheduleName: "cosine",
    status: "completed",
    spec: {} as Run["spec"],
    model: "mlp",
    dataset: "default",
    optimizer: "sgd",
    seed: 0,
    backend: "wasm",
    environment: {} as Run["environment"],
    error: null,
    createdAt: "2026-11-28T12:00:00.000Z",
    startedAt: "2026-11-28T12:00:01.000Z",
    finishedAt: "2026-11-28T12:00:11.000Z",
    updatedAt: "2026-11-28T12:00:11.000Z",
    plannedEpochs: 2,
    plannedSteps: 100,
    lastEpoch: 1,
    lastStep: 99,
    samples: 3200,
    wallTime: 9.5,
    final: { trainLoss: 0.5, trainAccuracy: 0.8, testLoss: 0.6, testAccuracy: 0.75 },
    best: { testAccuracy: 0.76, epoch: 0 },
    checkpointDir: null,
    attempt: 1,
    resumeEpoch: 1,
    owner: null,
    tags: [],
    note: null,
    ...over,
  };
}

const runs = [
  run({ id: "r-1", seed: 2, final: { ...run({}).final, testAccuracy: 0.7 }, tags: ["b"] }),
  run({ id: "r-2", seed: 10, final: { ...run({}).final, testAccuracy: 0.9 }, model: "cnn" }),
  run({
    id: "r-3",
    seed: 1,
    status: "running",
    final: { ...run({}).final, testAccuracy: null },
    note: "Try the Nesterov variant",
    tags: ["a", "b"],
  }),
];

describe("the library table", () => {
  it("sorts numbers numerically with missing values last either way", () => {
    expect(sortRuns(runs, "finalAcc", "desc").map((r) => r.id)).toEqual(["r-2", "r-1", "r-3"]);
    expect(sortRuns(runs, "finalAcc", "asc").map((r) => r.id)).toEqual(["r-1", "r-2", "r-3"]);
    expect(sortRuns(runs, "seed", "asc").map((r) => r.seed)).toEqual([1, 2, 10]);
    expect(sortRuns(runs, "model", "asc").map((r) => r.model)).toEqual(["cnn", "mlp", "mlp"]);
  });

  it("filters by status and tag and searches every field, word by word", () => {
    expect(filterRuns(runs, { status: ["running"] }).map((r) => r.id)).toEqual(["r-3"]);
    expect(filterRuns(runs, { tag: "b" }).map((r) => r.id)).toEqual(["r-1", "r-3"]);
    expect(filterRuns(runs, { search: "nesterov" }).map((r) => r.id)).toEqual(["r-3"]);
    expect(matchesSearch(runs[1] as Run, "cnn cosine")).toBe(true);
    expect(matchesSearch(runs[1] as Run, "cnn adam")).toBe(false);
    expect(filterRuns(runs, { search: "seed 10" }).map((r) => r.id)).toEqual(["r-2"]);
    expect(allTags(runs)).toEqual(["a", "b"]);
  });

  it("duration is the training time recorded, else start to finish", () => {
    expect(runDuration(run({}))).toBe(9.5);
    expect(runDuration(run({ wallTime: null }))).toBe(10);
    expect(runDuration(run({ wallTime: null, startedAt: null }))).toBeNull();
  });
});
