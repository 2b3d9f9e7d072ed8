// Keeps docs/schedules.md true: every JSON example parses and compiles.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compileSchedule } from "./compile.js";
import { PRESETS } from "./presets.js";
import { LR_KINDS } from "./spec.js";

const doc = readFileSync(new URL("../../docs/schedules.md", import.meta.url), "utf8");
const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) =>
  JSON.parse(m[1] as string),
);

describe("docs/schedules.md", () => {
  it("has an example of every LR kind, every batch kind and every delta kind", () => {
    const lrKinds = new Set(examples.map((e) => e.lr?.kind));
    for (const k of LR_KINDS) expect(lrKinds, k).toContain(k);
    const batchKinds = new Set(examples.map((e) => e.batch?.kind));
    for (const k of ["constant", "step", "multistep", "exponential", "polynomial", "keyframes"]) {
      expect(batchKinds, k).toContain(k);
    }
    const deltaKinds = new Set(examples.map((e) => e.smoothing?.delta.kind));
    for (const k of ["stagewise", "polynomial", "keyframes"]) expect(deltaKinds, k).toContain(k);
  });

  it.each(examples.map((e, i) => [i, e]))("example %i compiles", (_i, example) => {
    const c = compileSchedule(example, { datasetSize: 50_000 });
    expect(c.epochs).toHaveLength(example.epochs);
  });

  it("the smoothing-first hybrid example reproduces the paper-hybrid preset", () => {
    const smoothing = examples.find((e) => e.smoothing?.delta.kind === "stagewise");
    const preset = PRESETS.find((p) => p.name === "paper-hybrid")?.schedule;
    const a = compileSchedule(smoothing, { datasetSize: 50_000 });
    const b = compileSchedule(preset, { datasetSize: 50_000 });
    expect(a.epochs.map((r) => r.batchSize)).toEqual(b.epochs.map((r) => r.batchSize));
    for (const [e, r] of a.epochs.entries())
      expect(r.lr).toBeCloseTo(b.epochs[e]?.lr as number, 14);
    for (const name of PRESETS.map((p) => p.name)) expect(doc).toContain(`\`${name}\``);
  });
});
