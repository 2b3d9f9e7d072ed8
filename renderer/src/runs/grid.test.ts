import { describe, expect, it } from "vitest";
import { aggregate, commonGrid, interpolate } from "./grid";

describe("common grid and interpolation", () => {
  it("spans the union of the series' x ranges", () => {
    const g = commonGrid(
      [
        { xs: [0, 10], ys: [1, 1] },
        { xs: [5, 20], ys: [1, 1] },
      ],
      5,
    );
    expect(g).toEqual([0, 5, 10, 15, 20]);
    expect(commonGrid([], 5)).toEqual([]);
    expect(commonGrid([{ xs: [3], ys: [1] }], 5)).toEqual([3]);
  });

  it("interpolates linearly, NaN outside the series and next to gaps", () => {
    const s = { xs: [0, 10, 20, 30], ys: [0, 10, Number.NaN, 30] };
    expect(interpolate(s, [-1, 0, 5, 10, 15, 25, 30, 31])).toEqual([
      Number.NaN,
      0,
      5,
      10,
      Number.NaN,
      Number.NaN,
      30,
      Number.NaN,
    ]);
    // Several points at one x: the last of them counts.
    expect(interpolate({ xs: [0, 1, 1, 2], ys: [0, 5, 7, 9] }, [1, 1.5])).toEqual([7, 8]);
  });
});

describe("mean with a band across runs", () => {
  const a = { xs: [0, 10], ys: [0, 10] };
  const b = { xs: [0, 10], ys: [2, 12] };
  const c = { xs: [0, 5], ys: [4, 4] };

  it("gives mean, min/max and sample std at each grid point", () => {
    const g = aggregate([a, b, c], { grid: [0, 5, 10], band: "minmax" });
    expect(g.x).toEqual([0, 5, 10]);
    expect(g.mean[0]).toBe(2);
    expect(g.mean[1]).toBeCloseTo(16 / 3, 12); // 5, 7 and 4
    expect(g.mean[2]).toBe(11);
    expect(g.min).toEqual([0, 4, 10]);
    expect(g.max).toEqual([4, 7, 12]);
    expect(g.count).toEqual([3, 3, 2]);
    expect(g.lo).toEqual(g.min);
    expect(g.hi).toEqual(g.max);
    expect(g.std[0]).toBeCloseTo(2, 12); // values 0, 2, 4
    expect(g.std[2]).toBeCloseTo(Math.SQRT2, 12); // values 10, 12
  });

  it("band std is mean -/+ std; a single run has zero width", () => {
    const g = aggregate([a, b], { points: 3, band: "std" });
    expect(g.lo[0]).toBeCloseTo(1 - Math.SQRT2, 12);
    expect(g.hi[0]).toBeCloseTo(1 + Math.SQRT2, 12);
    const one = aggregate([a], { points: 3, band: "std" });
    expect(one.lo).toEqual(one.mean);
  });

  it("handles runs on different x (samples seen with different batch sizes)", () => {
    const runs = [
      { xs: [32, 64, 96, 128], ys: [4, 3, 2, 1] },
      { xs: [64, 128], ys: [3, 1] },
    ];
    const g = aggregate(runs, { points: 4 });
    expect(g.x[0]).toBe(32);
    expect(g.count[0]).toBe(1);
    expect(g.mean.at(-1)).toBe(1);
  });
});
