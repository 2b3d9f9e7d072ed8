import { describe, expect, it } from "vitest";
// Tests may use the core at runtime to check that what the forms write is a valid schedule.
import { parseSchedule } from "../../../core/schedule/validate";
import {
  BATCH_FAMILIES,
  DELTA_FAMILIES,
  defaultSpec,
  issuesByField,
  LR_FAMILIES,
  readForm,
  specFromValues,
  writeFields,
  writeForm,
} from "./forms";
import type { LaneId, Spec } from "./types";

function docWith(lane: LaneId, spec: Spec): unknown {
  if (lane === "lr")
    return { version: 1, epochs: 200, lr: spec, batch: { kind: "constant", size: 128 } };
  if (lane === "batch")
    return { version: 1, epochs: 200, lr: { kind: "constant", lr: 0.1 }, batch: spec };
  return { version: 1, epochs: 200, smoothing: { delta: spec, split: 0.5, lr: 0.1, batch: 128 } };
}

const lanes: [LaneId, typeof LR_FAMILIES][] = [
  ["lr", LR_FAMILIES],
  ["batch", BATCH_FAMILIES],
  ["delta", DELTA_FAMILIES],
];

describe("family forms", () => {
  for (const [lane, families] of lanes) {
    for (const family of families) {
      it(`${lane} ${family.kind}: the default is a valid schedule and survives the form (read, then write)`, () => {
        const spec = defaultSpec(lane, family.kind, {
          epochs: 200,
          base: lane === "batch" ? 128 : 0.1,
        });
        expect(spec.kind).toBe(family.kind);
        expect(() => parseSchedule(docWith(lane, spec))).not.toThrow();
        const text = readForm(lane, spec);
        const back = writeForm(lane, family.kind, text, spec);
        expect(back).toEqual({ ok: true, value: spec });
      });
    }
  }

  it("shows lists as comma-separated text and reads them back", () => {
    const spec: Spec = { kind: "multistep", lr: 0.1, milestones: [60, 120, 160], gamma: 0.2 };
    const text = readForm("lr", spec);
    expect(text).toEqual({ lr: "0.1", milestones: "60, 120, 160", gamma: "0.2" });
    expect(writeForm("lr", "multistep", { ...text, milestones: "30 90;150" })).toEqual({
      ok: true,
      value: { kind: "multistep", lr: 0.1, milestones: [30, 90, 150], gamma: 0.2 },
    });
  });

  it("leaves optional fields out when empty (the format's default applies)", () => {
    const r = writeForm("lr", "cosine", { lr: "0.1", tMax: "200", etaMin: "" });
    expect(r).toEqual({ ok: true, value: { kind: "cosine", lr: 0.1, tMax: 200 } });
    expect(readForm("lr", { kind: "cosine", lr: 0.1, tMax: 200 }).etaMin).toBe("");
  });

  it("reads exponent notation, enums and booleans", () => {
    const r = writeForm("lr", "onecycle", {
      maxLr: "4e-1",
      pctStart: ".25",
      anneal: "linear",
      threePhase: "true",
    });
    expect(r).toEqual({
      ok: true,
      value: { kind: "onecycle", maxLr: 0.4, pctStart: 0.25, anneal: "linear", threePhase: true },
    });
    expect(readForm("lr", r.ok ? r.value : { kind: "x" }).threePhase).toBe("true");
  });

  it("says which fields cannot be read", () => {
    expect(writeForm("lr", "step", { lr: "", stepSize: "4O", gamma: "0x10" })).toEqual({
      ok: false,
      errors: {
        lr: "lr is required",
        stepSize: 'every: "4O" is not a number',
        gamma: 'γ: "0x10" is not a number',
      },
    });
    expect(writeForm("batch", "constant", { size: "12.5" })).toEqual({
      ok: false,
      errors: { size: "size must be a whole number" },
    });
    expect(
      writeForm("lr", "multistep", { lr: "0.1", milestones: "60, x", gamma: "0.1" }),
    ).toMatchObject({
      ok: false,
      errors: { milestones: 'milestones: "x" is not a number' },
    });
    expect(writeForm("lr", "onecycle", { maxLr: "1", anneal: "cosine" })).toMatchObject({
      ok: false,
      errors: { anneal: "anneal: use one of cos, linear" },
    });
    expect(writeForm("lr", "nope", {})).toMatchObject({ ok: false });
  });

  it("keeps what the form does not show (keyframe points) when the kind stays", () => {
    const points = [
      { epoch: 0, value: 128 },
      { epoch: 50, value: 256 },
    ];
    const prev: Spec = { kind: "keyframes", interpolation: "hold", points, roundTo: 8 };
    const r = writeForm(
      "batch",
      "keyframes",
      { interpolation: "linear", roundTo: "8", max: "" },
      prev,
    );
    expect(r).toEqual({
      ok: true,
      value: { kind: "keyframes", interpolation: "linear", points, roundTo: 8 },
    });
    // Another kind starts clean.
    expect(specFromValues("constant", BATCH_FAMILIES[0]?.fields ?? [], { size: 64 }, prev)).toEqual(
      {
        kind: "constant",
        size: 64,
      },
    );
  });

  it("writeFields reads a bare field list (warmup, smoothing base)", () => {
    expect(
      writeFields(
        [
          { key: "epochs", label: "warmup", type: "number", hint: "" },
          { key: "startFactor", label: "from", type: "number", optional: true, hint: "" },
        ],
        { epochs: "5", startFactor: "" },
      ),
    ).toEqual({ ok: true, value: { epochs: 5 } });
  });

  it("maps the service's validation issues onto fields by path", () => {
    const issues = [
      {
        path: "lr.schedule.milestones[1]",
        value: 20,
        message: "milestones must be strictly increasing",
      },
      { path: "lr.epochs", value: -1, message: "warmup epochs must be > 0" },
      { path: "batch.size", value: 12.5, message: "batch size must be a whole number" },
    ];
    expect(issuesByField(issues, "lr.schedule")).toEqual({
      milestones: "milestones must be strictly increasing",
    });
    expect(issuesByField(issues, "lr")).toEqual({
      schedule: "milestones must be strictly increasing",
      epochs: "warmup epochs must be > 0",
    });
    expect(issuesByField(issues, "batch")).toEqual({ size: "batch size must be a whole number" });
    expect(issuesByField(issues, "smoothing.delta")).toEqual({});
  });
});
