import { describe, expect, it } from "vitest";
import { batchSignature, defaultXAxis } from "./xaxis";

const spec = (batch: unknown) => ({ schedule: { version: 1, lr: { kind: "constant" }, batch } });

describe("the default x axis", () => {
  it("is samples seen when batch schedules differ, else the step", () => {
    const a = spec({ kind: "constant", size: 128 });
    const b = spec({ kind: "step", size: 128, factor: 2, every: 40 });
    expect(defaultXAxis([{ spec: a }, { spec: a }])).toBe("step");
    expect(defaultXAxis([{ spec: a }, { spec: b }])).toBe("samples");
    // Key order does not matter.
    expect(batchSignature(spec({ size: 128, kind: "constant" }))).toBe(batchSignature(a));
    // Smoothing-first schedules: the design decides the batch.
    expect(
      defaultXAxis([
        { spec: { schedule: { smoothing: { split: 0.5 } } } },
        { spec: { schedule: { smoothing: { split: 1 } } } },
      ]),
    ).toBe("samples");
  });
});
