// `sgd-studio runs ...` and `sgd-studio train` recording into the library (temporary homes only).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticRun, testSpec, writeTestCheckpoint } from "../core/store/fixtures.js";
import { RunStore } from "../core/store/store.js";
import { CSV_HEADER } from "../core/store/transfer.js";
import { runCli } from "./testing.js";

const cli = runCli;

const temps: string[] = [];
function temp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A library with two recorded runs (one tagged), made without training. */
function library(): { home: string; ids: string[] } {
  const home = temp("cli-runs-");
  const store = RunStore.open(home);
  const ids: string[] = [];
  for (const model of ["mlp", "cnn"]) {
    const run = store.createRun(testSpec({ model }));
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
    const dir = run.checkpointDir as string;
    for (const e of syntheticRun({ epochs: 2, stepsPerEpoch: 5, checkpointDir: dir })) {
      if (e.type === "checkpoint") writeTestCheckpoint(dir, e.epoch, 0);
      rec.record(e);
    }
    rec.close();
    ids.push(run.id);
  }
  store.tag(ids[0] as string, "baseline");
  store.close();
  return { home, ids };
}

describe("sgd-studio runs", () => {
  let home = "";
  let a = "";
  let b = "";
  beforeAll(() => {
    const lib = library();
    home = lib.home;
    [a, b] = lib.ids as [string, string];
  });

  it("list: a table, JSON, filters, and an empty library", async () => {
    const table = await cli("runs", "list", "--home", home);
    expect(table.code).toBe(0);
    const lines = table.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/id\s+status\s+model\s+dataset\s+name\s+schedule\s+epochs\s+test acc/);
    expect(lines[2]).toContain(b); // newest first
    expect(lines[3]).toMatch(
      new RegExp(
        `${a}\\s+completed\\s+mlp\\s+default\\s+-\\s+test-cosine\\s+2/2\\s+\\d+\\.\\d\\d%`,
      ),
    );
    const json = JSON.parse((await cli("runs", "list", "--json", "--home", home)).out);
    expect(json.map((r: { id: string }) => r.id)).toEqual([b, a]);
    expect(json[1]).toMatchObject({ status: "completed", tags: ["baseline"], model: "mlp" });
    const tagged = JSON.parse(
      (await cli("runs", "list", "--json", "--tag", "baseline", "--home", home)).out,
    );
    expect(tagged.map((r: { id: string }) => r.id)).toEqual([a]);
    const bad = await cli("runs", "list", "--status", "weird", "--home", home);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--status must be one of queued, running/);
    const empty = await cli("runs", "list", "--home", temp("cli-empty-"));
    expect(empty.out).toMatch(/^no runs in /);
  });

  it("the library location comes from SGD_STUDIO_HOME when there is no --home", async () => {
    const saved = process.env.SGD_STUDIO_HOME;
    process.env.SGD_STUDIO_HOME = home;
    try {
      const json = JSON.parse((await cli("runs", "list", "--json")).out);
      expect(json).toHaveLength(2);
    } finally {
      if (saved === undefined) delete process.env.SGD_STUDIO_HOME;
      else process.env.SGD_STUDIO_HOME = saved;
    }
  });

  it("show: the run by id or a unique part of it, as text or JSON", async () => {
    const text = await cli("runs", "show", a.slice(-6), "--home", home);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(new RegExp(`^run:\\s+${a}`));
    expect(text.out).toMatch(/status:\s+completed/);
    expect(text.out).toMatch(/tags:\s+baseline/);
    // Epochs counted from 1 (the folder epoch-0001 holds the second), accuracy in percent.
    expect(text.out).toMatch(/checkpoint:\s+.*epoch-0001 \(after epoch 2\)/);
    expect(text.out).toMatch(/testAccuracy\s+2\s+60\.00%\s+60\.00%\s+max @ step 9/);
    expect(text.out).toMatch(/best:\s+60\.00% \(epoch 2\)/);
    const json = JSON.parse((await cli("runs", "show", a, "--json", "--home", home)).out);
    expect(json.run.id).toBe(a);
    expect(json.metrics.find((m: { key: string }) => m.key === "loss").count).toBe(10);
    expect(json.resume.epoch).toBe(1);
    const missing = await cli("runs", "show", "nope-nope", "--home", home);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error: no run nope-nope in the library/);
  });

  it("export JSON and CSV, import into another library, duplicates refused unless asked", async () => {
    const out = temp("cli-export-");
    const json = join(out, "runs.json");
    const csv = join(out, "runs.csv");
    const e1 = await cli("runs", "export", a, b, "--format", "json", "--out", json, "--home", home);
    expect(e1.out).toBe(`exported 2 runs (${2 * (10 * 6 + 11)} values) to ${json}\n`);
    await cli("runs", "export", a, "--format", "csv", "--out", csv, "--home", home);
    expect(readFileSync(csv, "utf8").split("\n")[0]).toBe(CSV_HEADER);
    const stdout = await cli("runs", "export", a, "--format", "csv", "--out", "-", "--home", home);
    expect(stdout.out).toBe(readFileSync(csv, "utf8"));
    const badFormat = await cli(
      "runs",
      "export",
      a,
      "--format",
      "xml",
      "--out",
      csv,
      "--home",
      home,
    );
    expect(badFormat.code).toBe(2);

    const other = temp("cli-import-");
    const i1 = await cli("runs", "import", json, "--home", other);
    expect(i1.code).toBe(0);
    expect(i1.out).toBe(`imported ${a}\nimported ${b}\n`);
    const again = await cli("runs", "import", json, "--home", other);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(
      /cannot import .*already in the library: .*--skip, --replace, --copy/,
    );
    const skip = await cli("runs", "import", json, "--skip", "--home", other);
    expect(skip.out).toBe(
      `skipped ${a} (already in the library)\nskipped ${b} (already in the library)\n`,
    );
    const copy = await cli("runs", "import", json, "--copy", "--json", "--home", other);
    expect(JSON.parse(copy.out).imported).toHaveLength(2);
    expect(JSON.parse((await cli("runs", "list", "--json", "--home", other)).out)).toHaveLength(4);
    const two = await cli("runs", "import", json, "--skip", "--copy", "--home", other);
    expect(two.code).toBe(2);
  });

  it("import refuses a damaged file with the reason", async () => {
    const dir = temp("cli-bad-");
    const truncated = join(dir, "t.json");
    writeFileSync(truncated, '{"format":"sgd-studio-runs","version":1,"runs":[{"id":');
    const r = await cli("runs", "import", truncated, "--home", dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not valid JSON .*truncated/);
    const missing = await cli("runs", "import", join(dir, "nope.json"), "--home", dir);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no such file/);
  });

  it("rename: a display name shown in list and show, kept through export and import; --clear", async () => {
    const lib = library();
    const [id] = lib.ids as [string];
    const r = await cli("runs", "rename", id, "lr", "sweep", "#1", "--home", lib.home);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${id}: renamed to lr sweep #1\n`);
    const list = await cli("runs", "list", "--home", lib.home);
    expect(list.out).toMatch(
      new RegExp(`${id}\\s+completed\\s+mlp\\s+default\\s+lr sweep #1\\s+test-cosine`),
    );
    expect((await cli("runs", "show", id, "--home", lib.home)).out).toMatch(/name:\s+lr sweep #1/);
    type Listed = { id: string; environment: { displayName?: string }; scheduleName: string };
    const listed = JSON.parse((await cli("runs", "list", "--json", "--home", lib.home)).out);
    expect(listed.find((x: Listed) => x.id === id).environment.displayName).toBe("lr sweep #1");
    // Exported and imported with the run.
    const file = join(temp("cli-rename-"), "run.json");
    await cli("runs", "export", id, "--format", "json", "--out", file, "--home", lib.home);
    const other = temp("cli-rename-import-");
    expect((await cli("runs", "import", file, "--home", other)).code).toBe(0);
    const imported = JSON.parse((await cli("runs", "list", "--json", "--home", other)).out);
    expect(imported[0]).toMatchObject({
      id,
      environment: { displayName: "lr sweep #1" },
      scheduleName: "test-cosine",
    });
    expect((await cli("runs", "list", "--home", other)).out).toContain("lr sweep #1");
    // Too long, or nothing: refused; --clear goes back to the schedule's name.
    const long = await cli("runs", "rename", id, "x".repeat(201), "--home", lib.home);
    expect(long.code).not.toBe(0);
    expect(long.err).toMatch(/200/);
    expect((await cli("runs", "rename", id, "--home", lib.home)).code).toBe(2);
    await cli("runs", "rename", id, "--clear", "--home", lib.home);
    const cleared = JSON.parse((await cli("runs", "list", "--json", "--home", lib.home)).out);
    expect(cleared.find((x: Listed) => x.id === id).environment.displayName).toBeUndefined();
    expect((await cli("runs", "show", id, "--home", lib.home)).out).toMatch(/name:\s+-/);
  });

  it("tag, untag, note and delete", async () => {
    const lib = library();
    const [x, y] = lib.ids as [string, string];
    const h = lib.home;
    expect((await cli("runs", "tag", x, "sweep", "--home", h)).out).toBe(`${x}: baseline, sweep\n`);
    expect((await cli("runs", "tag", x, "baseline", "--remove", "--home", h)).out).toBe(
      `${x}: sweep\n`,
    );
    await cli("runs", "note", x, "diverged", "at", "epoch", "3", "--home", h);
    expect((await cli("runs", "note", x, "--home", h)).out).toBe("diverged at epoch 3\n");
    const del = await cli("runs", "delete", x, "--home", h);
    expect(del.code).toBe(0);
    expect(del.out).toMatch(new RegExp(`^deleted ${x} and its checkpoints`));
    expect(existsSync(join(h, "runs", x))).toBe(false);
    expect(existsSync(join(h, "runs", y))).toBe(true);
    expect((await cli("runs", "show", x, "--home", h)).code).toBe(1);
  });
});

describe("sgd-studio runs resume and stop (through the service; a runs command never trains)", () => {
  /** A run stopped after `done` epochs of `epochs`, with a checkpoint of each. */
  function stoppedRun(home: string, done: number, epochs = 3): string {
    const store = RunStore.open(home);
    const run = store.createRun(testSpec());
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
    const dir = run.checkpointDir as string;
    for (const e of syntheticRun({
      epochs,
      stepsPerEpoch: 5,
      checkpointDir: dir,
      finish: "none",
    })) {
      if (e.type === "step" && e.epoch >= done) break;
      if (e.type === "checkpoint") writeTestCheckpoint(dir, e.epoch, 0);
      rec.record(e);
    }
    rec.finish("interrupted", { code: "worker-exited", message: "the worker was killed" });
    rec.close();
    store.close();
    return run.id;
  }
  const status = (home: string, id: string) => {
    const store = RunStore.open(home);
    try {
      return store.getRun(id).status;
    } finally {
      store.close();
    }
  };

  it("resume queues the run from its checkpoint for a host; nothing trains it here; stop takes it out", async () => {
    const home = temp("cli-resume-");
    const id = stoppedRun(home, 2);
    const r = await cli("runs", "resume", id.slice(-6), "--home", home);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `^run ${id} queued to resume from the checkpoint of epoch 2 \\(1 of 1 in the queue\\)\n`,
      ),
    );
    expect(r.out).toContain("`sgd-studio serve`");
    // Another runs command does not start it either (takeQueue is off).
    expect((await cli("runs", "list", "--home", home)).code).toBe(0);
    await new Promise((done) => setTimeout(done, 200));
    expect(status(home, id)).toBe("queued");

    const stop = await cli("runs", "stop", id, "--home", home);
    expect(stop.out).toBe(`stopped ${id}\n`);
    expect(status(home, id)).toBe("stopped");
    const again = await cli("runs", "stop", id, "--home", home);
    expect(again.code).toBe(1);
    expect(again.err).toBe(`error: run ${id} is stopped, not training\n`);
  });

  it("resume refuses what cannot be resumed, and too few epochs (exit 2)", async () => {
    const home = temp("cli-resume-bad-");
    const id = stoppedRun(home, 2);
    const few = await cli("runs", "resume", id, "--epochs", "2", "--home", home);
    expect(few.code).toBe(2);
    expect(few.err).toMatch(/has already trained 2 epochs; give more than that/);
    expect((await cli("runs", "resume", id, "--epochs", "0", "--home", home)).code).toBe(2);
    expect(status(home, id)).toBe("interrupted");
    const more = await cli("runs", "resume", id, "--epochs", "5", "--home", home);
    expect(more.code).toBe(0);
    const store = RunStore.open(home);
    expect(store.getRun(id)).toMatchObject({ status: "queued", spec: { epochs: 5 } });
    store.close();

    const lib = library();
    const done = await cli("runs", "resume", lib.ids[0] as string, "--home", lib.home);
    expect(done.code).toBe(1);
    expect(done.err).toMatch(/is completed; only stopped, interrupted, failed or paused runs/);
    const none = await cli("runs", "resume", "no-such-run", "--home", lib.home);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/^error: no run no-such-run in the library/);
  });

  it("export to standard output is one JSON line; delete with one unknown id deletes nothing", async () => {
    const lib = library();
    const [x, y] = lib.ids as [string, string];
    const r = await cli("runs", "export", x, "--out", "-", "--home", lib.home);
    expect(r.out.trimEnd().split("\n")).toHaveLength(1);
    expect(JSON.parse(r.out)).toMatchObject({ format: "sgd-studio-runs", runs: [{ id: x }] });
    const del = await cli("runs", "delete", x, "nope-nope", y, "--home", lib.home);
    expect(del.code).toBe(1);
    expect(del.out).toBe("");
    expect(JSON.parse((await cli("runs", "list", "--json", "--home", lib.home)).out)).toHaveLength(
      2,
    );
  });
});

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

/** `sgd-studio <args>` in its own process group (so SIGKILL takes its training worker too). */
function spawnCli(args: string[]) {
  return spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      `import(${JSON.stringify(MAIN)}).then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); })`,
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
}

describe("sgd-studio train records into the library", () => {
  it("prints the run id, survives SIGKILL as an interrupted run, and resumes it to the end", async () => {
    const home = temp("cli-train-lib-");
    const args = ["--epochs", "2", "--backend", "cpu", "--train-limit", "200", "--home", home];
    const child = spawnCli(["train", ...args, "--json"]);
    let out = "";
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes('"type":"checkpoint"') && child.pid) process.kill(-child.pid, "SIGKILL");
    });
    const signal = await new Promise((resolve) => child.on("exit", (_c, s) => resolve(s)));
    expect(signal, stderr).toBe("SIGKILL");
    const first = JSON.parse(out.split("\n")[0] as string);
    expect(first).toMatchObject({ type: "run", home, resumed: false });
    const id = first.id as string;

    // Opening the library finds the run's process gone.
    const listed = JSON.parse((await cli("runs", "list", "--json", "--home", home)).out);
    expect(listed[0]).toMatchObject({ id, status: "interrupted", lastEpoch: 0 });

    const resumed = await cli("train", "--resume", id.slice(-6), "--home", home, "--json");
    expect(resumed.err).toBe("");
    expect(resumed.code).toBe(0);
    const events = resumed.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ type: "run", id, resumed: true });
    expect(events[1]).toMatchObject({ type: "start", startEpoch: 1 });
    expect(events.at(-1)).toMatchObject({ type: "summary", status: "completed" });

    const store = RunStore.open(home);
    const run = store.getRun(id);
    expect(run.status).toBe("completed");
    expect(run.lastEpoch).toBe(1);
    expect(store.queryMetrics({ runIds: [id], keys: ["testAccuracy"] })[0]?.steps).toHaveLength(2);
    const loss = store.queryMetrics({ runIds: [id], keys: ["loss"] })[0];
    expect(loss?.steps).toEqual([...new Set(loss?.steps)]); // no step twice
    expect(store.resumePoint(id)?.path).toBe(join(home, "runs", id, "checkpoints", "epoch-0001"));
    store.close();

    const again = await cli("train", "--resume", id, "--home", home);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(
      /is completed; only stopped, interrupted, failed or paused runs can be resumed/,
    );
  });

  it("a run that fails is recorded as failed with the reason, and its id printed first", async () => {
    const home = temp("cli-train-fail-");
    const r = await cli("train", "--model", "vgg", "--backend", "cpu", "--home", home);
    expect(r.code).toBe(1);
    const id = /^run (\S+)\n/.exec(r.out)?.[1] as string;
    expect(id).toBeDefined();
    const store = RunStore.open(home);
    expect(store.getRun(id)).toMatchObject({
      status: "failed",
      error: { message: expect.stringMatching(/Unknown model "vgg"/) },
    });
    store.close();
  });
});
