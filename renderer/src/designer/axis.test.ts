import { describe, expect, it } from "vitest";
import { compactCount, describeTime, formatAxisValue, TimeAxis } from "./axis";

// Three epochs of N = 1000: batch 100 (10 steps), 250 (4 steps), 500 (2 steps).
const rows = [
  { steps: 10, samples: 1000 },
  { steps: 4, samples: 2000 },
  { steps: 2, samples: 3000 },
];

describe("TimeAxis", () => {
  const axis = new TimeAxis(rows);

  it("maps epoch boundaries to cumulative steps and samples", () => {
    expect(axis.boundaries("epochs")).toEqual([0, 1, 2, 3]);
    expect(axis.boundaries("steps")).toEqual([0, 10, 14, 16]);
    expect(axis.boundaries("samples")).toEqual([0, 1000, 2000, 3000]);
    expect(axis.end("steps")).toBe(16);
    expect(axis.end("samples")).toBe(3000);
    expect(axis.end("epochs")).toBe(3);
  });

  it("is linear inside an epoch: steps do not grow evenly with epochs when the batch changes", () => {
    expect(axis.fromEpoch(0.5, "steps")).toBe(5);
    expect(axis.fromEpoch(1.5, "steps")).toBe(12);
    expect(axis.fromEpoch(2.5, "steps")).toBe(15);
    expect(axis.fromEpoch(1.25, "samples")).toBe(1250);
  });

  it("inverts exactly (round trips in every unit)", () => {
    for (const t of [0, 0.1, 0.5, 1, 1.3, 2, 2.99, 3]) {
      for (const u of ["epochs", "steps", "samples"] as const) {
        expect(axis.toEpoch(axis.fromEpoch(t, u), u)).toBeCloseTo(t, 12);
      }
    }
    expect(axis.toEpoch(12, "steps")).toBe(1.5);
    expect(axis.convert(12, "steps", "samples")).toBe(1500);
  });

  it("clamps outside the run", () => {
    expect(axis.fromEpoch(-1, "steps")).toBe(0);
    expect(axis.fromEpoch(9, "steps")).toBe(16);
    expect(axis.toEpoch(-5, "samples")).toBe(0);
    expect(axis.toEpoch(1e9, "samples")).toBe(3);
    expect(axis.toEpoch(7, "epochs")).toBe(3);
  });

  it("builds a uniform axis before the first compile", () => {
    const u = TimeAxis.uniform(200, 50_000, 128);
    expect(u.end("steps")).toBe(200 * 391);
    expect(u.end("samples")).toBe(200 * 50_000);
    expect(u.toEpoch(391 * 40, "steps")).toBe(40);
  });

  it("refuses an empty table", () => {
    expect(() => new TimeAxis([])).toThrow(/no epochs/);
  });
});

describe("axis labels", () => {
  it("formats each unit compactly", () => {
    expect(formatAxisValue(12.345, "epochs")).toBe("12.35");
    expect(formatAxisValue(15640.4, "steps")).toBe("15,640");
    expect(formatAxisValue(2_350_000, "samples")).toBe("2.35M");
    expect(compactCount(950)).toBe("950");
    expect(compactCount(12_500)).toBe("12.5k");
    expect(compactCount(1.2e9)).toBe("1.2G");
  });

  it("describes a moment in all three units", () => {
    expect(describeTime(new TimeAxis(rows), 1.5)).toBe("epoch 1.5 · step 12 · 1500 samples");
  });
});
