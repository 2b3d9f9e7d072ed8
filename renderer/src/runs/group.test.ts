import { describe, expect, it } from "vitest";
import { differingSpecPaths, groupRuns, groupValue } from "./group";

function run(id: string, seed: number, schedule = "cosine", model = "mlp") {
  return {
    id,
    name: schedule,
    scheduleName: schedule,
    spec: { dataset: "default", model, seed, schedule: { name: schedule, epochs: 3 } },
    model,
    dataset: "default",
    optimizer: "sgd",
    backend: "cpu",
    status: "completed" as const,
    tags: seed === 1 ? ["baseline"] : [],
  };
}

describe("grouping runs", () => {
  const runs = [run("a", 1), run("b", 2), run("c", 1, "paper-hybrid"), run("d", 3)];

  it("groups all seeds of one configuration together", () => {
    const g = groupRuns(runs, "allButSeed");
    expect(g.map((x) => x.runs.map((r) => r.id))).toEqual([["a", "b", "d"], ["c"]]);
    expect(g[0]?.label).toBe("cosine · mlp · sgd");
  });

  it("groups by a field, a spec path, or not at all", () => {
    expect(groupRuns(runs, "schedule").map((g) => g.label)).toEqual(["cosine", "paper-hybrid"]);
    expect(groupRuns(runs, "none")).toHaveLength(4);
    expect(groupRuns(runs, "spec:seed").map((g) => g.label)).toEqual([
      "seed = 1",
      "seed = 2",
      "seed = 3",
    ]);
    expect(groupValue(runs[1] as (typeof runs)[1], "tag")).toBe("(untagged)");
  });

  it("numbers groups whose labels collide", () => {
    const other = { ...run("e", 1), spec: { ...run("e", 1).spec, dataset: "mnist" } };
    const g = groupRuns([run("a", 1), other], "allButSeed");
    expect(g.map((x) => x.label)).toEqual(["cosine · mlp · sgd #1", "cosine · mlp · sgd #2"]);
  });

  it("lists the spec paths that differ", () => {
    expect(differingSpecPaths(runs)).toEqual(["seed", "schedule.name"]);
  });
});
