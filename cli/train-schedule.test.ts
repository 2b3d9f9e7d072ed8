// `sgd-studio train` follows a preset's whole shape in a short run (presets are
// relative to the run), and says so when an epoch-time schedule is cut short.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./testing.js";

const run = runCli;

// Never touch the user's real library.
process.env.SGD_STUDIO_HOME = mkdtempSync(join(tmpdir(), "cli-train-schedule-home-"));

type Ev = Record<string, unknown> & { type: string };
const events = (out: string): Ev[] =>
  out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Ev);

describe("sgd-studio train: the schedule fits the run", () => {
  it("--schedule paper-hybrid --epochs 10: LR falls and batch grows in 5 stages of 2 epochs", async () => {
    const home = mkdtempSync(join(tmpdir(), "cli-train-schedule-"));
    const { code, out, err } = await run(
      "train",
      "--model",
      "mlp",
      "--schedule",
      "paper-hybrid",
      "--epochs",
      "10",
      "--train-limit",
      "1280",
      "--home",
      home,
      "--json",
    );
    expect(err).toBe("");
    expect(code).toBe(0);
    const ev = events(out);
    const start = ev.find((e) => e.type === "start");
    expect(start).toMatchObject({ epochs: 10, warnings: [] });
    const steps = ev.filter((e) => e.type === "step") as unknown as {
      epoch: number;
      lr: number;
      batchSize: number;
    }[];
    // One (lr, batch) per epoch; stages where they change.
    const stages: { epoch: number; lr: number; batch: number }[] = [];
    for (const s of steps) {
      const last = stages.at(-1);
      if (!last || last.lr !== s.lr || last.batch !== s.batchSize)
        stages.push({ epoch: s.epoch, lr: s.lr, batch: s.batchSize });
    }
    expect(stages.map((s) => s.epoch)).toEqual([0, 2, 4, 6, 8]);
    expect(stages.map((s) => s.batch)).toEqual([128, 192, 288, 432, 648]);
    stages.forEach((s, m) => {
      expect(s.lr).toBeCloseTo(0.1 * (Math.sqrt(3) / 2) ** m, 12);
    });
    expect(ev.filter((e) => e.type === "epoch")).toHaveLength(10);
    expect(ev.at(-1)).toMatchObject({ type: "summary", status: "completed", epochs: 10 });
  }, 120_000);

  it("an epoch-time schedule cut short warns; --fit fit runs its whole shape", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-train-schedule-file-"));
    const file = join(dir, "abs.json");
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        epochs: 200,
        lr: { kind: "step", lr: 0.1, stepSize: 40, gamma: 0.5 },
        batch: { kind: "constant", size: 128 },
      }),
    );
    const common = ["--model", "mlp", "--epochs", "2", "--train-limit", "256", "--json"];
    const cut = await run("train", "--schedule", file, ...common);
    expect(cut.code).toBe(0);
    const start = events(cut.out).find((e) => e.type === "start") as { warnings: string[] };
    expect(start.warnings.join("\n")).toContain("LR and batch never change in these 2 epochs");

    const fit = await run("train", "--schedule", file, "--fit", "fit", ...common);
    expect(fit.code).toBe(0);
    const ev = events(fit.out);
    expect((ev.find((e) => e.type === "start") as { warnings: string[] }).warnings).toEqual([]);
    const lrs = new Set(ev.filter((e) => e.type === "step").map((e) => e.lr));
    // 5 stages of 0.4 epochs in 2 epochs, LR per epoch: epochs 0 and 1 differ.
    expect(lrs.size).toBe(2);

    const bad = await run("train", "--schedule", file, "--fit", "squash", ...common);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain("--fit must be one of truncate, fit");
  }, 120_000);
});
