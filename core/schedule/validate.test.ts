// Invalid schedules: each error names the field path, the value and the fix.
import { describe, expect, it } from "vitest";
import { parseSchedule, parseScheduleJson, ScheduleError } from "./validate.js";

const ok = {
  version: 1,
  epochs: 10,
  lr: { kind: "constant", lr: 0.1 },
  batch: { kind: "constant", size: 128 },
};

function issuesOf(doc: unknown) {
  try {
    parseSchedule(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(ScheduleError);
    return (err as ScheduleError).issues;
  }
  throw new Error("expected the schedule to be rejected");
}

describe("schedule validation", () => {
  it("accepts a valid schedule and fills defaults", () => {
    const s = parseSchedule({ ...ok, lr: { kind: "cosine", lr: 0.1, tMax: 10 } });
    expect(s.per).toBe("epoch");
    expect(s.dropLast).toBe(false);
    expect(s.lr).toEqual({ kind: "cosine", lr: 0.1, tMax: 10, etaMin: 0 });
  });

  it.each([
    ["negative LR", { ...ok, lr: { kind: "constant", lr: -0.1 } }, "lr.lr", -0.1, /must be > 0/],
    [
      "non-increasing milestones",
      { ...ok, lr: { kind: "multistep", lr: 0.1, milestones: [30, 20], gamma: 0.1 } },
      "lr.milestones[1]",
      20,
      /strictly increasing.*sort/,
    ],
    [
      "keyframes out of order",
      {
        ...ok,
        lr: {
          kind: "keyframes",
          points: [
            { epoch: 0, value: 0.1 },
            { epoch: 5, value: 0.05 },
            { epoch: 3, value: 0.01 },
          ],
        },
      },
      "lr.points[2].epoch",
      3,
      /out of order.*sort the points/,
    ],
    [
      "first keyframe not at 0",
      { ...ok, batch: { kind: "keyframes", points: [{ epoch: 2, value: 64 }] } },
      "batch.points[0].epoch",
      2,
      /first keyframe must be at epoch 0/,
    ],
    [
      "unknown kind",
      { ...ok, lr: { kind: "cosinus", lr: 0.1 } },
      "lr.kind",
      "cosinus",
      /use one of constant, step/,
    ],
    ["E = 0", { ...ok, epochs: 0 }, "epochs", 0, /must be >= 1/],
    [
      "fractional batch",
      { ...ok, batch: { kind: "constant", size: 12.5 } },
      "batch.size",
      12.5,
      /whole number/,
    ],
    [
      "misspelled field",
      { ...ok, lr: { kind: "step", lr: 0.1, stepsize: 3, gamma: 0.5 } },
      "lr.stepsize",
      3,
      /unknown field/,
    ],
    [
      "split out of range",
      {
        version: 1,
        epochs: 5,
        smoothing: {
          delta: { kind: "stagewise", gamma: 0.7, every: 2 },
          split: 2,
          lr: 0.1,
          batch: 64,
        },
      },
      "smoothing.split",
      2,
      /between 0 \(all LR\) and 1/,
    ],
    ["wrong version", { ...ok, version: 3 }, "version", 3, /this build reads versions 1 and 2/],
    [
      "nested error inside a warmup",
      {
        ...ok,
        lr: { kind: "warmup", epochs: 2, schedule: { kind: "exponential", lr: 0.1, gamma: 0 } },
      },
      "lr.schedule.gamma",
      0,
      /gamma must be > 0/,
    ],
  ])("%s", (_name, doc, path, value, message) => {
    const issues = issuesOf(doc);
    const issue = issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(issues)).toBeDefined();
    expect(issue?.value).toEqual(value);
    expect(issue?.message).toMatch(message);
  });

  it("requires lr and batch, or smoothing, but not both", () => {
    expect(issuesOf({ version: 1, epochs: 5, lr: ok.lr }).map((i) => i.path)).toEqual(["batch"]);
    const both = issuesOf({
      ...ok,
      smoothing: { delta: { kind: "polynomial", power: 1 }, split: 0, lr: 0.1, batch: 8 },
    });
    expect(both.map((i) => i.path).sort()).toEqual(["batch", "lr"]);
  });

  it("reports every problem at once, in a message that shows path and value", () => {
    try {
      parseSchedule(
        { ...ok, epochs: -1, lr: { kind: "step", lr: 0, stepSize: 0, gamma: 0.5 } },
        "my.json",
      );
      expect.unreachable();
    } catch (err) {
      const e = err as ScheduleError;
      expect(e.issues.map((i) => i.path).sort()).toEqual(["epochs", "lr.lr", "lr.stepSize"]);
      expect(e.message).toContain("my.json: invalid schedule");
      expect(e.message).toContain("lr.stepSize = 0: stepSize must be > 0");
    }
  });

  it("reports JSON syntax errors as schedule errors", () => {
    expect(() => parseScheduleJson('{"version": 1,', "bad.json")).toThrow(
      /bad\.json: invalid schedule[\s\S]*not valid JSON/,
    );
  });
});

describe("smoothing-first errors", () => {
  it("a rising delta that would shrink the batch below 1 says how to fix it", async () => {
    const { compileSchedule } = await import("./compile.js");
    expect(() =>
      compileSchedule(
        {
          version: 1,
          epochs: 10,
          smoothing: {
            delta: {
              kind: "keyframes",
              points: [
                { epoch: 0, value: 1 },
                { epoch: 5, value: 8 },
              ],
            },
            split: 1,
            lr: 0.1,
            batch: 32,
          },
        },
        { datasetSize: 1000 },
      ),
    ).toThrow(/batch size falls to 0\.735 at epoch 4.*lower the split/);
  });
});
