import { describe, expect, it } from "vitest";
import { isSmoothable, weightFor } from "./smoothable";
import { EPOCH_KEYS } from "./types";

describe("what smoothing applies to", () => {
  it("noisy per-step scalars only", () => {
    for (const k of ["loss", "gradNorm", "throughput"]) expect(isSmoothable(k)).toBe(true);
    for (const k of [
      "lr",
      "batchSize",
      "delta",
      "deltaScheduled",
      "noiseCUpdate",
      ...EPOCH_KEYS,
      "sharpness",
      "sharpnessL2",
      "sharpnessOneStep",
    ])
      expect(isSmoothable(k), k).toBe(false);
    expect(weightFor("loss", 0.6)).toBe(0.6);
    expect(weightFor("lr", 0.6)).toBe(0);
  });
});
