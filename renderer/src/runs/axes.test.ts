import { describe, expect, it } from "vitest";
import { cleanFileName, paddedRange } from "./axes";

describe("chart axes and file names", () => {
  it("pads a range that spans nothing, keeps one that spans something", () => {
    expect(paddedRange(0.1, 0.1, false)).toEqual([0.095, 0.10500000000000001]);
    expect(paddedRange(0, 0, false)).toEqual([-0.5, 0.5]);
    expect(paddedRange(1, 2, false)).toEqual([1, 2]);
    expect(paddedRange(32, 32, true)).toEqual([25.6, 40]);
  });

  it("file names: no spaces or reserved characters; delta kept", () => {
    expect(cleanFileName("compare-delta-by-step")).toBe("compare-delta-by-step");
    expect(cleanFileName("Smoothing δ: scheduled (and measured)")).toBe(
      "Smoothing-δ-scheduled-and-measured",
    );
    expect(cleanFileName("a/b\\c?")).toBe("abc");
    expect(cleanFileName("  ")).toBe("chart");
  });
});
