import { describe, expect, it } from "vitest";
// Tests compile documents with the core at runtime to check that edits keep the curves.
import { compileSchedule } from "../../../core/schedule/compile";
import { findPreset } from "../../../core/schedule/presets";
import {
  baseValue,
  fileName,
  impliedSplit,
  isEditable,
  joinWarmup,
  keyframesOf,
  laneSpec,
  modeOf,
  sameDoc,
  setFamily,
  setKeyframes,
  setLane,
  setRun,
  setSmoothing,
  splitWarmup,
  toEpochTime,
  toJson,
  toLaneMode,
  toSmoothingFirst,
} from "./state";
import type { Doc } from "./types";

const N = 50_000;
// The designer edits presets in epoch time (they are relative to the run).
const preset = (name: string) =>
  toEpochTime(structuredClone(findPreset(name)?.schedule) as unknown as Doc);
const compile = (doc: Doc) => compileSchedule(doc, { datasetSize: N });
const rowsOf = (doc: Doc) => compile(doc).epochs;

describe("lanes and modes", () => {
  it("tells the modes apart and which lanes are edited", () => {
    const hybrid = preset("paper-hybrid");
    expect(modeOf(hybrid)).toBe("lanes");
    expect(isEditable(hybrid, "lr")).toBe(true);
    expect(isEditable(hybrid, "delta")).toBe(false);
    const poly = preset("poly-delta-0.5");
    expect(modeOf(poly)).toBe("smoothing");
    expect(isEditable(poly, "lr")).toBe(false);
    expect(laneSpec(poly, "delta")).toEqual({ kind: "polynomial", power: 0.5, stages: 5 });
  });

  it("setLane and setSmoothing never mutate and ignore the lanes of the other mode", () => {
    const doc = preset("paper-hybrid");
    const before = JSON.stringify(doc);
    const next = setLane(doc, "batch", { kind: "constant", size: 64 });
    expect(next.batch).toEqual({ kind: "constant", size: 64 });
    expect(JSON.stringify(doc)).toBe(before);
    expect(setLane(doc, "delta", { kind: "stagewise", gamma: 0.5, every: 10 })).toBe(doc);
    expect(setSmoothing(doc, { split: 1 })).toBe(doc);
    const poly = preset("poly-delta-1");
    const s = setSmoothing(poly, { split: 1, roundTo: 8 });
    expect(s.smoothing).toMatchObject({ split: 1, roundTo: 8, lr: 0.1, batch: 128 });
    expect(setSmoothing(s, { roundTo: undefined }).smoothing).not.toHaveProperty("roundTo");
    expect(setLane(poly, "lr", { kind: "constant", lr: 1 })).toBe(poly);
  });

  it("run settings: an empty name is removed", () => {
    const doc = setRun(preset("cosine"), { name: "  ", epochs: 50, per: "step" });
    expect(doc).not.toHaveProperty("name");
    expect(doc.epochs).toBe(50);
    expect(doc.per).toBe("step");
  });
});

describe("warmup in front of a family", () => {
  it("splits and joins", () => {
    const doc = preset("warmup-cosine");
    const { warmup, inner } = splitWarmup(doc.lr as NonNullable<Doc["lr"]>);
    expect(warmup).toEqual({ epochs: 5, startFactor: 0.01 });
    expect(inner.kind).toBe("cosine");
    expect(joinWarmup(warmup, inner)).toEqual(doc.lr);
    expect(joinWarmup(null, inner)).toBe(inner);
    expect(splitWarmup(inner)).toEqual({ warmup: null, inner });
  });

  it("a change of family keeps the warmup and the base LR", () => {
    const doc = setFamily(preset("warmup-cosine"), "lr", "step");
    expect(doc.lr).toEqual({
      kind: "warmup",
      epochs: 5,
      startFactor: 0.01,
      schedule: { kind: "step", lr: 0.1, stepSize: 40, gamma: Math.SQRT1_2 },
    });
    expect(() => compile(doc)).not.toThrow();
  });
});

describe("switching a lane to keyframes keeps its curve", () => {
  it("LR: a step schedule becomes hold points with the same per-epoch LR", () => {
    const doc = preset("paper-lr-decay");
    const next = setFamily(doc, "lr", "keyframes", rowsOf(doc));
    const kf = keyframesOf(next, "lr");
    expect(kf?.interpolation).toBe("hold");
    expect(kf?.points.map((p) => p.epoch)).toEqual([0, 40, 80, 120, 160]);
    expect(rowsOf(next).map((r) => r.lr)).toEqual(rowsOf(doc).map((r) => r.lr));
  });

  it("LR: a warmup is baked into the points", () => {
    const doc = setRun(preset("warmup-cosine"), { per: "epoch" });
    const next = setFamily(doc, "lr", "keyframes", rowsOf(doc));
    expect(next.lr?.kind).toBe("keyframes");
    const a = rowsOf(doc).map((r) => r.lr);
    const b = rowsOf(next).map((r) => r.lr);
    a.forEach((x, i) => {
      expect(Math.abs((b[i] as number) / Math.max(x, 1e-8) - 1)).toBeLessThan(0.011);
    });
  });

  it("batch: the same batch sizes, limits kept", () => {
    const doc = setLane(preset("paper-batch-growth"), "batch", {
      kind: "step",
      size: 128,
      factor: 2,
      every: 40,
      max: 1024,
    });
    const next = setFamily(doc, "batch", "keyframes", rowsOf(doc));
    expect(next.batch).toMatchObject({ kind: "keyframes", interpolation: "hold", max: 1024 });
    expect(rowsOf(next).map((r) => r.batchSize)).toEqual(rowsOf(doc).map((r) => r.batchSize));
  });

  it("to another family: defaults from the lane's base value, limits kept", () => {
    const doc = setLane(preset("paper-batch-growth"), "batch", {
      kind: "step",
      size: 96,
      factor: 2,
      every: 40,
      roundTo: 8,
    });
    expect(setFamily(doc, "batch", "constant").batch).toEqual({
      kind: "constant",
      size: 96,
      roundTo: 8,
    });
    expect(setFamily(doc, "lr", "cosine").lr).toEqual({
      kind: "cosine",
      lr: 0.1,
      tMax: 200,
      etaMin: 0,
    });
    expect(setFamily(doc, "lr", "constant")).toBe(doc);
  });

  it("delta (smoothing-first): keyframes starting at 1 that keep the trajectory", () => {
    const doc = preset("poly-delta-0.5");
    const next = setFamily(doc, "delta", "keyframes", rowsOf(doc));
    expect(keyframesOf(next, "delta")?.points[0]).toEqual({ epoch: 0, value: 1 });
    const a = rowsOf(doc);
    const b = rowsOf(next);
    a.forEach((r, i) => {
      expect(b[i]?.delta).toBeCloseTo(r.delta, 12);
      expect(b[i]?.batchSize).toBe(r.batchSize);
    });
    expect(setFamily(doc, "delta", "stagewise").smoothing?.delta).toEqual({
      kind: "stagewise",
      gamma: Math.SQRT1_2,
      every: 40,
    });
  });

  it("setKeyframes replaces the points of a keyframes lane only", () => {
    const doc = setFamily(preset("paper-lr-decay"), "lr", "keyframes");
    const pts = [
      { epoch: 0, value: 0.2 },
      { epoch: 100, value: 0.01 },
    ];
    expect(keyframesOf(setKeyframes(doc, "lr", pts), "lr")?.points).toEqual(pts);
    expect(setKeyframes(doc, "batch", pts)).toBe(doc);
  });
});

describe("switching modes", () => {
  it("the split the paper's hybrid implies is log(1.5)/log(2)", () => {
    expect(impliedSplit(rowsOf(preset("paper-hybrid")))).toBeCloseTo(
      Math.log(1.5) / Math.log(2),
      3,
    );
    expect(impliedSplit(rowsOf(preset("paper-lr-decay")))).toBe(0);
    expect(impliedSplit(rowsOf(preset("paper-batch-growth")))).toBeCloseTo(1, 12);
    expect(impliedSplit(rowsOf(preset("paper-constant")))).toBeNull();
    expect(impliedSplit([])).toBeNull();
  });

  it("lanes -> smoothing-first keeps delta and the batch sizes", () => {
    const doc = preset("paper-hybrid");
    const next = toSmoothingFirst(doc, rowsOf(doc));
    expect(next).not.toHaveProperty("lr");
    expect(next).not.toHaveProperty("batch");
    expect(next.smoothing).toMatchObject({ split: 0.585, lr: 0.1, batch: 128 });
    expect(next.smoothing?.delta.kind).toBe("keyframes");
    const a = rowsOf(doc);
    const b = rowsOf(next);
    a.forEach((r, i) => {
      expect(b[i]?.delta).toBeCloseTo(r.delta, 12);
      expect(b[i]?.batchSize).toBe(r.batchSize);
      expect(b[i]?.lr).toBeCloseTo(r.lr, 12);
    });
  });

  it("a schedule whose delta never decays starts from the paper's stages, split evenly", () => {
    const doc = preset("paper-constant");
    const next = toSmoothingFirst(doc, rowsOf(doc));
    expect(next.smoothing).toEqual({
      delta: { kind: "stagewise", gamma: Math.SQRT1_2, every: 40 },
      split: 0.5,
      lr: 0.1,
      batch: 128,
    });
    expect(toSmoothingFirst(next)).toBe(next);
    // Without a compiled table it still works.
    expect(toSmoothingFirst(preset("paper-hybrid")).smoothing?.delta.kind).toBe("stagewise");
  });

  it("smoothing-first -> lanes reproduces the LR and the batch sizes", () => {
    for (const name of ["poly-delta-0.5", "poly-delta-1"]) {
      const doc = setSmoothing(preset(name), { roundTo: 8 });
      const next = toLaneMode(doc, rowsOf(doc));
      expect(next).not.toHaveProperty("smoothing");
      expect(next.batch).toMatchObject({ kind: "keyframes", roundTo: 8 });
      const a = rowsOf(doc);
      const b = rowsOf(next);
      expect(b.map((r) => r.batchSize)).toEqual(a.map((r) => r.batchSize));
      expect(b.map((r) => r.lr)).toEqual(a.map((r) => r.lr));
    }
    const plain = toLaneMode(preset("poly-delta-1"));
    expect(plain.lr).toEqual({ kind: "constant", lr: 0.1 });
    expect(plain.batch).toEqual({ kind: "constant", size: 128 });
  });
});

describe("files", () => {
  it("names and serialises documents", () => {
    expect(fileName(preset("paper-hybrid"))).toBe("paper-hybrid.json");
    expect(fileName({ version: 1, epochs: 3, name: "my run / v2" })).toBe("my_run_v2.json");
    expect(fileName({ version: 1, epochs: 3 })).toBe("schedule.json");
    const doc = preset("cosine");
    expect(JSON.parse(toJson(doc))).toEqual(doc);
    expect(toJson(doc).endsWith("}\n")).toBe(true);
    expect(sameDoc(doc, structuredClone(doc))).toBe(true);
    expect(sameDoc(doc, setRun(doc, { epochs: 3 }))).toBe(false);
  });

  it("baseValue finds the LR or batch a spec starts from", () => {
    expect(baseValue(preset("warmup-cosine").lr, 1)).toBe(0.1);
    expect(baseValue({ kind: "onecycle", maxLr: 0.4 }, 1)).toBe(0.4);
    expect(baseValue({ kind: "keyframes", points: [{ epoch: 0, value: 64 }] }, 1)).toBe(64);
    expect(
      baseValue(
        { kind: "sequence", pieces: [{ epochs: 5, schedule: { kind: "constant", lr: 0.3 } }] },
        1,
      ),
    ).toBe(0.3);
    expect(baseValue(undefined, 7)).toBe(7);
  });
});

describe("documents relative to the run", () => {
  it("a preset is edited in epoch time at its length, with the same values", () => {
    for (const name of ["paper-hybrid", "warmup-cosine", "poly-delta-1", "cosine"]) {
      const rel = findPreset(name)?.schedule as unknown as Doc;
      const doc = preset(name);
      expect(doc.version).toBe(1);
      expect((doc as { time?: string }).time).toBeUndefined();
      expect(compile(doc).epochs).toEqual(compile(rel).epochs);
    }
    expect(preset("paper-hybrid").lr).toMatchObject({ stepSize: 40 });
    // An epoch-time document is returned as it is.
    const abs = preset("paper-lr-decay");
    expect(toEpochTime(abs)).toBe(abs);
  });
});
