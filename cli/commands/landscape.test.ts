// `sgd-studio landscape`, in-process with captured output.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../testing.js";

const run = runCli;

describe("sgd-studio landscape", () => {
  it("without --schedule compares the default set and prints rates with intervals", async () => {
    const { code, out } = await run("landscape", "--fn", "rastrigin");
    expect(code).toBe(0);
    expect(out).toContain("Rastrigin: 200 seeds");
    for (const name of [
      "paper-constant",
      "constant-final-delta",
      "paper-lr-decay",
      "paper-batch-growth",
      "paper-hybrid",
      "poly-delta-0.5",
      "poly-delta-1",
    ])
      expect(out).toMatch(new RegExp(`^\\s*${name.replace(".", "\\.")}\\s`, "m"));
    expect(out).toMatch(/paper-lr-decay\s+0\.4 -> 0\.1\s+4000\s+11\.0% \[7\.4%, 16\.1%\]/);
    expect(out).toContain("paper-lr-decay - constant-final-delta: +9.0 points [4.3, 14.2]: higher");
  });

  it("--schedule takes presets and files, repeated; --json prints the numbers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sgd-landscape-"));
    const file = join(dir, "mine.json");
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        name: "mine",
        epochs: 20,
        lr: { kind: "cosine", lr: 0.1, tMax: 20 },
        batch: { kind: "constant", size: 128 },
      }),
    );
    const { code, out } = await run(
      "landscape",
      "--fn",
      "ackley",
      "--schedule",
      "paper-constant",
      "--schedule",
      file,
      "--seeds",
      "30",
      "--kernel",
      "gaussian",
      "--json",
    );
    expect(code).toBe(0);
    const doc = JSON.parse(out);
    expect(doc.fn).toBe("ackley");
    expect(doc.kernel).toBe("gaussian");
    expect(doc.settings.seeds).toBe(30);
    expect(doc.schedules.map((s: { name: string }) => s.name)).toEqual(["paper-constant", "mine"]);
    expect(doc.schedules[1].updates).toBe(20 * 20);
    expect(Object.keys(doc.schedules[0].success).sort()).toEqual([
      "hi",
      "lo",
      "n",
      "rate",
      "successes",
    ]);
    expect(doc.schedules[0].finalValue).toHaveProperty("mean");
  });

  it("explains bad arguments", async () => {
    const fn = await run("landscape", "--fn", "rosenbrock");
    expect(fn.code).toBe(2);
    expect(fn.err).toContain(
      "--fn must be one of rastrigin, drop-wave, ackley, styblinski-tang, himmelblau",
    );
    const sched = await run("landscape", "--fn", "ackley", "--schedule", "nope");
    expect(sched.code).toBe(1);
    expect(sched.err).toContain('no schedule file or preset named "nope"');
    const seeds = await run("landscape", "--fn", "ackley", "--seeds", "0");
    expect(seeds.code).toBe(2);
  });
});
