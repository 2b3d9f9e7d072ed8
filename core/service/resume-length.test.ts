// Would a resume for another length change the schedule of the epochs already trained?
import { describe, expect, it } from "vitest";
import { compileSchedule, findPreset } from "../schedule/index.js";
import { resumeLengthChange } from "./resume-length.js";

const N = 640;
const preset = (name: string) => findPreset(name)?.schedule;

describe("resumeLengthChange", () => {
  it("a relative schedule moves under the trained epochs when its stages move", () => {
    const spec = { schedule: preset("paper-lr-decay"), epochs: 5 };
    // 5 -> 8 epochs: epoch 1 falls back into the first stage.
    const c = resumeLengthChange(spec, 8, 2, N);
    expect(c).toMatchObject({ currentEpochs: 5, changesTrained: true, mode: "relative" });
    // Epoch 0 is at the start whatever the length: one trained epoch is unchanged.
    expect(resumeLengthChange(spec, 8, 1, N).changesTrained).toBe(false);
    // The schedule as trained: epoch time, the 5-epoch shape; continued, its prefix is what trained.
    expect(c.asTrained).toMatchObject({ version: 1, epochs: 5 });
    const before = compileSchedule(spec.schedule, { datasetSize: N, epochs: 5 });
    const kept = compileSchedule(c.asTrained, { datasetSize: N, epochs: 8 });
    expect(Array.from(kept.steps.lr.slice(0, before.steps.lr.length))).toEqual(
      Array.from(before.steps.lr),
    );
  });

  it("an epoch-time schedule cut or continued never changes what trained; fitted, it does", () => {
    const doc = {
      version: 1,
      epochs: 10,
      lr: { kind: "step", lr: 0.1, stepSize: 2, gamma: 0.5 },
      batch: { kind: "constant", size: 64 },
    };
    expect(resumeLengthChange({ schedule: doc, epochs: 6 }, 12, 4, N)).toMatchObject({
      changesTrained: false,
      mode: "truncate",
    });
    expect(resumeLengthChange({ schedule: doc, epochs: 6, fit: "fit" }, 12, 4, N)).toMatchObject({
      changesTrained: true,
      mode: "fit",
    });
  });
});
