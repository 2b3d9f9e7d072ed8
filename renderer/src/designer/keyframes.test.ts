import { describe, expect, it } from "vitest";
import {
  addPoint,
  clampValue,
  deletePoint,
  type KeyframeLimits,
  keyframesFromValues,
  movePoint,
  nudgePoint,
  pointAfter,
  snapEpoch,
} from "./keyframes";
import type { Point } from "./types";

const pts: Point[] = [
  { epoch: 0, value: 0.1 },
  { epoch: 30, value: 0.05, interpolation: "cosine" },
  { epoch: 60, value: 0.01 },
];
const snap: KeyframeLimits = { epochs: 90, snap: true };
const free: KeyframeLimits = { epochs: 90, snap: false };

describe("snap and clamp", () => {
  it("snaps to epoch boundaries, or keeps three decimals", () => {
    expect(snapEpoch(41.6, snap)).toBe(42);
    expect(snapEpoch(41.6123, free)).toBe(41.612);
    expect(snapEpoch(-3, snap)).toBe(0);
    expect(snapEpoch(1000, free)).toBe(90);
  });

  it("keeps values positive; batch sizes whole", () => {
    expect(clampValue(-1, free)).toBe(1e-12);
    expect(clampValue(0.123456789, free)).toBe(0.123457);
    expect(clampValue(130.4, { ...snap, integer: true })).toBe(130);
    expect(clampValue(0.2, { ...snap, integer: true })).toBe(1);
    expect(clampValue(Number.NaN, free)).toBe(1e-12);
  });
});

describe("addPoint", () => {
  it("inserts in epoch order and says where", () => {
    const r = addPoint(pts, 44.7, 0.03, snap);
    expect(r?.index).toBe(2);
    expect(r?.points.map((p) => p.epoch)).toEqual([0, 30, 45, 60]);
    expect(r?.points[2]).toEqual({ epoch: 45, value: 0.03 });
    expect(addPoint(pts, 75, 0.005, snap)?.index).toBe(3);
  });

  it("refuses a taken spot and epoch 0", () => {
    expect(addPoint(pts, 30.2, 0.03, snap)).toBeNull();
    expect(addPoint(pts, 0.1, 0.03, free)).not.toBeNull();
    expect(addPoint(pts, 0, 0.03, free)).toBeNull();
  });

  it("does not change its input", () => {
    const before = JSON.stringify(pts);
    addPoint(pts, 44, 0.03, snap);
    movePoint(pts, 1, 40, 0.2, snap);
    deletePoint(pts, 1);
    expect(JSON.stringify(pts)).toBe(before);
  });
});

describe("movePoint", () => {
  it("moves and snaps, keeping the point's own interpolation", () => {
    const next = movePoint(pts, 1, 41.4, 0.07, snap);
    expect(next[1]).toEqual({ epoch: 41, value: 0.07, interpolation: "cosine" });
  });

  it("never lets points cross or touch their neighbours", () => {
    expect(movePoint(pts, 1, 75, 0.05, snap)[1]?.epoch).toBe(59);
    expect(movePoint(pts, 1, -5, 0.05, snap)[1]?.epoch).toBe(1);
    expect(movePoint(pts, 1, 75, 0.05, free)[1]?.epoch).toBeCloseTo(59.999, 9);
    expect(movePoint(pts, 2, 500, 0.05, snap)[2]?.epoch).toBe(90);
  });

  it("pins the first point at epoch 0 (and its value when asked)", () => {
    expect(movePoint(pts, 0, 12, 0.2, snap)[0]).toEqual({ epoch: 0, value: 0.2 });
    expect(movePoint(pts, 0, 12, 0.2, { ...snap, pinFirstValue: true })[0]).toEqual({
      epoch: 0,
      value: 0.1,
    });
  });

  it("stays put when there is no room", () => {
    const tight: Point[] = [
      { epoch: 0, value: 1 },
      { epoch: 1, value: 2 },
      { epoch: 2, value: 3 },
    ];
    expect(movePoint(tight, 1, 5, 2, snap)[1]?.epoch).toBe(1);
  });
});

describe("deletePoint", () => {
  it("removes any point but the first", () => {
    expect(deletePoint(pts, 1)?.map((p) => p.epoch)).toEqual([0, 60]);
    expect(deletePoint(pts, 0)).toBeNull();
    expect(deletePoint(pts, 3)).toBeNull();
    expect(deletePoint([{ epoch: 0, value: 1 }], 0)).toBeNull();
  });
});

describe("nudgePoint (keyboard)", () => {
  it("moves one epoch per arrow, ten with Shift", () => {
    expect(nudgePoint(pts, 1, "ArrowRight", false, snap)[1]?.epoch).toBe(31);
    expect(nudgePoint(pts, 1, "ArrowLeft", true, snap)[1]?.epoch).toBe(20);
  });

  it("scales the value by 5% (25% with Shift); whole numbers move at least by one", () => {
    expect(nudgePoint(pts, 1, "ArrowUp", false, snap)[1]?.value).toBeCloseTo(0.0525, 12);
    expect(nudgePoint(pts, 1, "ArrowDown", true, snap)[1]?.value).toBeCloseTo(0.04, 12);
    const b: Point[] = [{ epoch: 0, value: 8 }];
    const lim = { ...snap, integer: true };
    expect(nudgePoint(b, 0, "ArrowUp", false, lim)[0]?.value).toBe(9);
    expect(nudgePoint([{ epoch: 0, value: 1 }], 0, "ArrowDown", false, lim)[0]?.value).toBe(1);
  });
});

describe("pointAfter", () => {
  it("is halfway to the next point, on the curve", () => {
    expect(pointAfter(pts, 0, "linear", snap)).toEqual({
      epoch: 15,
      value: expect.closeTo(0.075, 12),
    });
    expect(pointAfter(pts, 0, "log", snap)?.value).toBeCloseTo(Math.sqrt(0.1 * 0.05), 12);
    expect(pointAfter(pts, 0, "hold", snap)?.value).toBe(0.1);
    // Point 1 has its own cosine interpolation: halfway is the mean.
    expect(pointAfter(pts, 1, "linear", snap)?.value).toBeCloseTo(0.03, 12);
    expect(pointAfter(pts, 2, "linear", snap)).toEqual({ epoch: 75, value: 0.01 });
  });

  it("is null without room", () => {
    const tight: Point[] = [
      { epoch: 0, value: 1 },
      { epoch: 1, value: 2 },
    ];
    expect(pointAfter(tight, 0, "linear", snap)).toBeNull();
  });
});

describe("keyframesFromValues", () => {
  it("a step schedule becomes hold points at each change", () => {
    const values = Array.from({ length: 200 }, (_, e) => 0.1 * Math.SQRT1_2 ** Math.floor(e / 40));
    const kf = keyframesFromValues(values);
    expect(kf.interpolation).toBe("hold");
    expect(kf.points.map((p) => p.epoch)).toEqual([0, 40, 80, 120, 160]);
    expect(kf.points[4]?.value).toBe(values[199]);
  });

  it("a smooth curve becomes a few log-linear points within 1%", () => {
    const values = Array.from(
      { length: 200 },
      (_, e) => 0.05 * (1 + Math.cos((Math.PI * e) / 200)) + 1e-4,
    );
    const kf = keyframesFromValues(values);
    expect(kf.interpolation).toBe("log");
    expect(kf.points.length).toBeLessThan(60);
    expect(kf.points[0]).toEqual({ epoch: 0, value: values[0] });
    expect(kf.points.at(-1)?.epoch).toBe(199);
    // Interpolating the points in log space reproduces every epoch within the tolerance.
    for (let e = 0; e < 200; e++) {
      const i = kf.points.findLastIndex((p) => p.epoch <= e);
      const a = kf.points[i] as Point;
      const b = kf.points[i + 1] ?? a;
      const f = b.epoch === a.epoch ? 0 : (e - a.epoch) / (b.epoch - a.epoch);
      const v = Math.exp(Math.log(a.value) + (Math.log(b.value) - Math.log(a.value)) * f);
      expect(Math.abs(v / (values[e] as number) - 1)).toBeLessThan(0.0101);
    }
  });

  it("replaces values <= 0 by a small positive floor (keyframe values must be > 0)", () => {
    const kf = keyframesFromValues([0.1, 0.1, 0]);
    expect(kf.points.at(-1)?.value).toBe(1e-8);
  });
});
