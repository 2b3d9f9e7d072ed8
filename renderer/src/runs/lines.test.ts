import { describe, expect, it } from "vitest";
import { groupLines, groupResults, runLines, thin, zip } from "./lines";

const s = (runId: string, values: number[]) => ({
  runId,
  label: runId,
  color: "#4e79a7",
  xs: values.map((_, i) => i * 10),
  values,
  steps: values.map((_, i) => i),
});

describe("chart lines", () => {
  it("drops points a chart cannot draw", () => {
    expect(zip([0, 1, 2], [1, Number.NaN, -1])).toEqual([
      { x: 0, y: 1 },
      { x: 2, y: -1 },
    ]);
    expect(zip([0, 1, 2], [1, 0, -1], true)).toEqual([{ x: 0, y: 1 }]);
  });

  it("keeps the raw line, faint, under the smoothed one; without smoothing only the raw", () => {
    const lines = runLines([s("a", [4, 2, 3])], { weight: 0.6 });
    expect(lines.map((l) => [l.label, l.quiet ?? false])).toEqual([
      ["a (raw)", true],
      ["a", false],
    ]);
    expect(lines[0]?.color).toBe("rgba(78, 121, 167, 0.22)");
    expect(lines[1]?.points[0]).toEqual({ x: 0, y: 4 });
    expect(lines[1]?.points[1]?.y).toBeCloseTo((0.6 * 0.4 * 4 + 0.4 * 2) / (1 - 0.36), 12);
    expect(runLines([s("a", [4, 2, 3])], { weight: 0 })).toHaveLength(1);
  });

  it("thins only the smoothed line, keeping its first and last points", () => {
    const values = Array.from({ length: 101 }, (_, i) => Math.sin(i));
    const [raw, smooth] = runLines([s("a", values)], { weight: 0.6, maxSmoothed: 51 });
    expect(raw?.points).toHaveLength(101);
    expect(smooth?.points).toHaveLength(51);
    expect(smooth?.points[0]?.x).toBe(0);
    expect(smooth?.points.at(-1)?.x).toBe(1000);
    // The thinned line's points are the smoothed line's own (every second one here).
    const full = runLines([s("a", values)], { weight: 0.6 })[1]?.points ?? [];
    expect(smooth?.points[7]).toEqual(full[14]);
    const pts = Array.from({ length: 10 }, (_, i) => ({ x: i, y: i }));
    expect(thin(pts, 4).map((p) => p.x)).toEqual([0, 3, 6, 9]);
    expect(thin(pts, 10)).toBe(pts);
    expect(thin(pts, 3).map((p) => p.x)).toEqual([0, 5, 9]);
  });

  it("draws a group as a filled band under its mean", () => {
    const results = groupResults(
      [{ label: "cosine", color: "#4e79a7", series: [s("a", [1, 2, 3]), s("b", [3, 4, 5])] }],
      { weight: 0, band: "minmax", points: 3 },
    );
    expect(results[0]?.smoothed.mean).toEqual([2, 3, 4]);
    const lines = groupLines(results, {});
    expect(lines.map((l) => l.label)).toEqual([
      "cosine (2 runs) low",
      "cosine (2 runs) high",
      "cosine (2 runs)",
    ]);
    expect(lines[1]?.fillPrevious).toBe(true);
    expect(lines[0]?.points.map((p) => p.y)).toEqual([1, 2, 3]);
    expect(lines[1]?.points.map((p) => p.y)).toEqual([3, 4, 5]);
  });
});
