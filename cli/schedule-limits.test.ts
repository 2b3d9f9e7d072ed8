// `sgd-studio schedule preview` refuses schedules over the limits of
// core/schedule/limits.ts with the error on stderr, quickly.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_EPOCHS } from "../core/schedule/index.js";
import { runCli } from "./testing.js";

const cli = runCli;

const dir = mkdtempSync(join(tmpdir(), "sgd-cli-limits-"));

function doc(epochs: number, batch: number) {
  return {
    version: 1,
    epochs,
    lr: { kind: "constant", lr: 0.1 },
    batch: { kind: "constant", size: batch },
  };
}

describe("through the CLI", () => {
  it("schedule preview of a file with epochs 1e9 exits 1 with the error, within a second", async () => {
    const file = join(dir, "huge.json");
    writeFileSync(file, JSON.stringify(doc(1e9, 128)));
    const t0 = performance.now();
    const { code, out, err } = await cli("schedule", "preview", file);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(code).toBe(1);
    expect(out).toBe("");
    expect(err).toContain(`${file}: invalid schedule`);
    expect(err).toContain("epochs = 1000000000: epochs must be at most 100,000");
  });

  it("schedule preview over the step limit exits 1 with the step count and the fix", async () => {
    const file = join(dir, "many-steps.json");
    writeFileSync(file, JSON.stringify(doc(MAX_EPOCHS, 1)));
    const { code, out, err } = await cli("schedule", "preview", file, "--dataset-size", "50000");
    expect(code).toBe(1);
    expect(out).toBe("");
    expect(err).toMatch(
      /compiles to 5,000,000,000 optimizer steps .* the limit is 10,000,000 steps \(MAX_STEPS\): use fewer epochs, larger batches or a smaller dataset size/,
    );
  });
});
