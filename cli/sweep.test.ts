// `sgd-studio sweep ...` through runCli(): templates, create (file and template, shrunk), run with
// concurrency until done, status, a deterministic failure that is not retried, rerun, extend, cancel.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./testing.js";

const base = {
  dataset: "default",
  model: "mlp",
  backend: "cpu",
  trainLimit: 300,
  testLimit: 100,
  epochs: 2,
  schedule: "paper-constant",
};

function file(home: string, doc: unknown): string {
  const f = join(home, "sweep.json");
  writeFileSync(f, JSON.stringify(doc));
  return f;
}

describe("sgd-studio sweep", () => {
  it("lists templates, shows one, and creates a shrunk paper grid", async () => {
    const home = mkdtempSync(join(tmpdir(), "cli-sweep-t-"));
    const list = await runCli("sweep", "templates");
    expect(list.code).toBe(0);
    expect(list.out).toContain("paper-grid");
    const shown = await runCli("sweep", "templates", "--show", "paper-grid");
    expect(JSON.parse(shown.out).base).toMatchObject({
      model: "resnet18",
      dataset: "cifar100",
      epochs: 200,
    });
    const made = await runCli(
      "sweep",
      "create",
      "--template",
      "paper-grid",
      "--epochs",
      "2",
      "--model",
      "mlp",
      "--dataset",
      "default",
      "--train-limit",
      "200",
      "--home",
      home,
      "--json",
    );
    expect(made.code, made.err).toBe(0);
    const { id, members } = JSON.parse(made.out);
    expect(members).toBe(100);
    const status = JSON.parse((await runCli("sweep", "status", id, "--home", home, "--json")).out);
    expect(status.spec.base).toMatchObject({ model: "mlp", epochs: 2, trainLimit: 200 });
    expect(
      new Set(status.members.map((m: { values: { schedule: string } }) => m.values.schedule)).size,
    ).toBe(4);
    const cancelled = await runCli("sweep", "cancel", id, "--home", home);
    expect(cancelled.out).toContain("100 members stopped");
  }, 60_000);

  it("refuses a bad document naming the field and the fix", async () => {
    const home = mkdtempSync(join(tmpdir(), "cli-sweep-bad-"));
    const r = await runCli(
      "sweep",
      "create",
      file(home, { version: 1, base, axes: { batchSize: { range: [16, 64] } } }),
      "--home",
      home,
    );
    expect(r.code).toBe(2);
    expect(r.err).toContain("axes.batchSize");
    expect(r.err).toContain('exactly one of "count"');
    const t = await runCli("sweep", "create", "--template", "nope", "--home", home);
    expect(t.code).toBe(2);
    expect(t.err).toContain("paper-grid");
  });

  it("runs a sweep 2 at a time until done; a member that fails on its own is not retried; rerun and extend", async () => {
    const home = mkdtempSync(join(tmpdir(), "cli-sweep-run-"));
    const doc = { version: 1, name: "cli", base, axes: { lr: [0.02, 0.1, 1e9] }, seeds: [0] };
    const made = JSON.parse(
      (await runCli("sweep", "create", file(home, doc), "--home", home, "--json")).out,
    );
    const run = await runCli(
      "sweep",
      "run",
      made.id,
      "--concurrency",
      "2",
      "--home",
      home,
      "--json",
    );
    expect(run.code).toBe(1); // one member failed
    const summary = JSON.parse(run.out.trim().split("\n").at(-1) as string);
    expect(summary).toMatchObject({ sweep: made.id, members: 3, completed: 2, failed: 1 });
    const s = JSON.parse((await runCli("sweep", "status", made.id, "--home", home, "--json")).out);
    const failed = s.members.find((m: { status: string }) => m.status === "failed");
    expect(failed.values.lr).toBe(1e9);
    expect(failed.attempt).toBe(1); // not retried
    expect(failed.error).toMatch(/loss became/);
    const text = (await runCli("sweep", "status", made.id, "--home", home)).out;
    expect(text).toContain("completed");
    expect(text).toMatch(/epochs 4\/4|epochs \d+\/\d+/);

    // Extend with a new lr: only it becomes a run; run again trains only it.
    const ext = await runCli(
      "sweep",
      "extend",
      made.id,
      "--axis",
      "lr=0.1,0.05",
      "--home",
      home,
      "--json",
    );
    expect(JSON.parse(ext.out)).toMatchObject({ members: 4 });
    const again = await runCli(
      "sweep",
      "run",
      made.id,
      "--home",
      home,
      "--json",
      "--concurrency",
      "1",
    );
    expect(JSON.parse(again.out.trim().split("\n").at(-1) as string)).toMatchObject({
      members: 4,
      completed: 3,
      failed: 1,
    });
    const rerun = await runCli("sweep", "rerun", made.id, "--home", home, "--json");
    expect(JSON.parse(rerun.out).requeued).toEqual([failed.runId]);
    const list = await runCli("sweep", "list", "--home", home);
    expect(list.out).toContain(made.id);
    const runs = await runCli("runs", "list", "--home", home);
    expect(runs.out.split("\n").filter((l) => l.includes("completed"))).toHaveLength(3);
  }, 240_000);
});
