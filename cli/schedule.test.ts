// The schedule CLI, in-process (captured output) and once through the real binary.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PRESETS } from "../core/schedule/index.js";
import { runCli } from "./testing.js";

const run = runCli;

const dir = mkdtempSync(join(tmpdir(), "sgd-cli-"));

describe("sgd-studio schedule", () => {
  it("presets lists every preset by name", async () => {
    const { code, out } = await run("schedule", "presets");
    expect(code).toBe(0);
    for (const p of PRESETS) expect(out).toContain(p.name);
    const json = JSON.parse((await run("schedule", "presets", "--json")).out);
    expect(json.map((p: { name: string }) => p.name)).toEqual(PRESETS.map((p) => p.name));
  });

  it("preview --format json has epochs, totals and warnings with the documented keys", async () => {
    const { code, out } = await run("schedule", "preview", "paper-hybrid", "--format", "json");
    expect(code).toBe(0);
    const doc = JSON.parse(out);
    expect(doc.epochs).toHaveLength(200);
    expect(Object.keys(doc.epochs[0]).sort()).toEqual([
      "batchSize",
      "delta",
      "epoch",
      "lr",
      "samples",
      "steps",
    ]);
    expect(doc.epochs[40]).toMatchObject({ epoch: 40, batchSize: 192, steps: 261 });
    expect(doc.epochs[40].lr).toBeCloseTo(0.1 * (Math.sqrt(3) / 2), 14);
    expect(doc.totals.updates).toBe(
      doc.epochs.reduce((s: number, r: { steps: number }) => s + r.steps, 0),
    );
    expect(doc.warnings).toEqual([]);
    expect(doc.steps).toBeUndefined();
  });

  it("preview --per step --format json adds the step rows; --noise gives absolute delta", async () => {
    const { out } = await run(
      "schedule",
      "preview",
      "cosine",
      "--per",
      "step",
      "--format",
      "json",
      "--dataset-size",
      "1000",
      "--noise",
      "2",
    );
    const doc = JSON.parse(out);
    expect(doc.deltaRelative).toBe(false);
    expect(doc.steps).toHaveLength(200 * 8);
    expect(Object.keys(doc.steps[0]).sort()).toEqual(["batchSize", "delta", "epoch", "lr", "step"]);
    expect(doc.steps[8]).toMatchObject({ step: 8, epoch: 1, batchSize: 128 });
    expect(doc.steps[0].delta).toBeCloseTo((0.1 * 2) / Math.sqrt(128), 15);
  });

  it("preview --format csv and table", async () => {
    const csv = (await run("schedule", "preview", "paper-batch-growth", "--format", "csv")).out
      .trim()
      .split("\n");
    expect(csv[0]).toBe("epoch,lr,batchSize,steps,samples,delta/delta0");
    expect(csv).toHaveLength(201);
    const row = (csv[41] as string).split(",");
    expect(row.slice(0, 5)).toEqual(["40", "0.1", "256", "196", "2050000"]);
    expect(Number(row[5])).toBeCloseTo(Math.SQRT1_2, 15);
    const table = (await run("schedule", "preview", "paper-batch-growth")).out;
    expect(table).toMatch(/updates 30360, samples 10000000/);
    expect(table).toMatch(/batch 128 -> 2048/);
  });

  it("prints compiler warnings on stderr for table output", async () => {
    const file = join(dir, "big-batch.json");
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        epochs: 3,
        lr: { kind: "constant", lr: 0.1 },
        batch: { kind: "constant", size: 4096 },
      }),
    );
    const { code, err } = await run("schedule", "preview", file, "--dataset-size", "1000");
    expect(code).toBe(0);
    expect(err).toMatch(/warning: the batch size exceeds the dataset \(N = 1000\)/);
  });

  it("a malformed file exits non-zero with the error on stderr", async () => {
    const file = join(dir, "bad.json");
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        epochs: 10,
        lr: { kind: "step", lr: -1 },
        batch: { kind: "constant", size: 8 },
      }),
    );
    const { code, out, err } = await run("schedule", "preview", file);
    expect(code).not.toBe(0);
    expect(out).toBe("");
    expect(err).toContain("bad.json: invalid schedule");
    expect(err).toContain("lr.lr = -1: lr must be > 0");
    expect(err).toContain("lr.stepSize");
  });

  it("an unknown preset or bad flag says what is valid", async () => {
    const unknown = await run("schedule", "preview", "cosin");
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(
      /no schedule file or preset named "cosin"; presets: paper-constant/,
    );
    const bad = await run("schedule", "preview", "cosine", "--dataset-size", "0");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--dataset-size must be a whole number >= 1/);
  });

  it("presets: each name with its title, then the description wrapped and indented", async () => {
    const { out } = await run("schedule", "presets");
    const lines = out.split("\n");
    for (const p of PRESETS) expect(lines).toContain(`${p.name}  ${p.title}`);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(130);
    expect(lines.filter((l) => l.startsWith("    ")).length).toBeGreaterThanOrEqual(PRESETS.length);
  });

  it("preview paper-hybrid --epochs 10 --format json: 10 epochs in 5 stages", async () => {
    const { code, out } = await run(
      "schedule",
      "preview",
      "paper-hybrid",
      "--epochs",
      "10",
      "--format",
      "json",
    );
    expect(code).toBe(0);
    const doc = JSON.parse(out);
    expect(doc.epochs).toHaveLength(10);
    expect(doc.length).toEqual({ mode: "relative", scheduleEpochs: 200, runEpochs: 10 });
    expect(doc.stages.map((s: { from: number; to: number }) => [s.from, s.to])).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
      [8, 9],
    ]);
    expect(doc.stages.map((s: { batchSize: number }) => s.batchSize)).toEqual([
      128, 192, 288, 432, 648,
    ]);
    expect(doc.warnings).toEqual([]);
    // At 200 epochs (its default length) the values are the paper's: stages of 40.
    const full = JSON.parse(
      (await run("schedule", "preview", "paper-hybrid", "--format", "json")).out,
    );
    expect(full.stages.map((s: { from: number }) => s.from)).toEqual([0, 40, 80, 120, 160]);
  });

  it("preview of an epoch-time file cut short warns; --fit fit stretches it", async () => {
    const file = join(dir, "abs200.json");
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        epochs: 200,
        lr: { kind: "step", lr: 0.1, stepSize: 40, gamma: 0.5 },
        batch: { kind: "constant", size: 128 },
      }),
    );
    const cut = await run("schedule", "preview", file, "--epochs", "5");
    expect(cut.code).toBe(0);
    expect(cut.err).toContain("LR and batch never change in these 5 epochs");
    expect(cut.out).toContain("the first 5 of 200: truncated");
    const fit = await run(
      "schedule",
      "preview",
      file,
      "--epochs",
      "5",
      "--fit",
      "fit",
      "--format",
      "json",
    );
    const doc = JSON.parse(fit.out);
    expect(doc.length.mode).toBe("fit");
    expect(doc.stages).toHaveLength(5);
    expect(doc.warnings).toEqual([]);
  });

  it("export --epochs resolves a relative preset to the run's length", async () => {
    const { code, out } = await run(
      "schedule",
      "export",
      "paper-lr-decay",
      "--to",
      "pytorch",
      "--epochs",
      "10",
    );
    expect(code).toBe(0);
    expect(out).toMatch(/EPOCHS = 10\b/);
    expect(out).toMatch(/step_size=2\b/);
    expect(out).toContain("resolved here to 10 epochs");
  });

  it("export --to pytorch prints Python code", async () => {
    const { code, out } = await run("schedule", "export", "paper-lr-decay", "--to", "pytorch");
    expect(code).toBe(0);
    expect(out).toMatch(/StepLR/);
    expect(out).toMatch(/def batch_size_for_epoch/);
  });

  it("the installed binary runs (dist built by npm run build)", () => {
    const r = spawnSync(
      process.execPath,
      ["bin/sgd-studio.js", "schedule", "preview", "paper-lr-decay", "--format", "json"],
      {
        encoding: "utf8",
      },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).totals.deltaEnd).toBeCloseTo(0.25, 12);
  });
});
