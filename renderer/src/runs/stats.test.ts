import { describe, expect, it } from "vitest";
import { bestMode, lastAndBest, robustRange } from "./stats";

describe("last and best values", () => {
  it("uses the library's direction per key", () => {
    expect(bestMode("testAccuracy")).toBe("max");
    expect(bestMode("throughput")).toBe("max");
    expect(bestMode("loss")).toBe("min");
    expect(bestMode("testLoss")).toBe("min");
  });

  it("reports the value and the step and x where it was first reached", () => {
    const s = {
      xs: [32, 64, 96, 128, 160],
      steps: [0, 1, 2, 3, 4],
      values: [0.5, 0.8, 0.8, Number.NaN, 0.7],
    };
    expect(lastAndBest(s, "max")).toEqual({
      last: 0.7,
      lastStep: 4,
      lastX: 160,
      best: 0.8,
      bestStep: 1,
      bestX: 64,
      count: 4,
    });
    expect(lastAndBest(s, "min")).toMatchObject({ best: 0.5, bestStep: 0 });
    expect(lastAndBest({ xs: [], steps: [], values: [] }, "min")).toMatchObject({
      last: null,
      best: null,
      count: 0,
    });
  });
});

describe("ignoring outliers", () => {
  it("leaves out the extreme ends of the values", () => {
    const v = [1000, ...Array.from({ length: 200 }, (_, i) => i / 200)];
    const [lo, hi] = robustRange(v, 0.01) as [number, number];
    expect(hi).toBeLessThan(2);
    expect(lo).toBeLessThan(0.02);
    expect(robustRange([Number.NaN])).toBeNull();
    expect(robustRange([2, 2, 2])).toEqual([1.9, 2.1]);
    const [plo] = robustRange([-1, 0, 0.1, 0.2, 0.3], 0, true) as [number, number];
    expect(plo).toBeGreaterThan(0);
  });
});
