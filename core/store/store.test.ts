// The run library: schema and migrations, run states, recovery, tags, notes, delete.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreError } from "./errors.js";
import { syntheticRun, testSpec, writeTestCheckpoint } from "./fixtures.js";
import { libraryPaths } from "./paths.js";
import {
  APPLICATION_ID,
  MIGRATIONS,
  type Migration,
  openDatabase,
  SCHEMA_VERSION,
} from "./schema.js";
import { RUN_STATUSES, type RunStatus, TRANSITIONS } from "./states.js";
import { libraryInternals, RunStore } from "./store.js";

let home = "";
let store: RunStore;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "store-"));
  store = RunStore.open(home);
});
afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

describe("schema", () => {
  it("creates a WAL library with a version, an application id and every table", () => {
    const db = new Database(libraryPaths(home).db, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma("application_id", { simple: true })).toBe(APPLICATION_ID);
    const names = (
      db.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table','view')").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    for (const t of [
      "runs",
      "metric_chunks",
      "metric_summaries",
      "metric_axis",
      "run_metrics",
      "metric_keys",
      "tags",
      "notes",
      "checkpoints",
    ])
      expect(names).toContain(t);
    expect(names).toContain("metric_values");
    db.close();
  });

  it("reopens without migrating again and keeps the runs", () => {
    const run = store.createRun(testSpec());
    store.close();
    store = RunStore.open(home);
    expect(store.getRun(run.id).id).toBe(run.id);
  });

  it("applies newer migrations to an existing library, in order, keeping data", () => {
    const run = store.createRun(testSpec());
    store.close();
    const v2: Migration = {
      version: SCHEMA_VERSION + 1,
      description: "test: add a column",
      up: (db) => db.exec("ALTER TABLE runs ADD COLUMN color TEXT DEFAULT 'blue'"),
    };
    store = RunStore.open(home, { migrations: [...MIGRATIONS, v2] });
    const row = libraryInternals(store)
      .db.prepare("SELECT color FROM runs WHERE id = ?")
      .get(run.id) as {
      color: string;
    };
    expect(row.color).toBe("blue");
    expect(libraryInternals(store).db.pragma("user_version", { simple: true })).toBe(
      SCHEMA_VERSION + 1,
    );
    store.close();
    // This build (without v2) refuses the newer file rather than touching it.
    expect(() => RunStore.open(home)).toThrow(
      new RegExp(
        `schema version ${SCHEMA_VERSION + 1}, newer than this build reads \\(${SCHEMA_VERSION}\\)`,
      ),
    );
    store = RunStore.open(home, { migrations: [...MIGRATIONS, v2] });
  });

  it.each([
    1, 2,
  ])("brings a version-%i library up to date (queue order, claims, resume point), keeping its runs", (version) => {
    store.close();
    rmSync(home, { recursive: true, force: true });
    // An old library, written with that version's schema only.
    const old = openDatabase(libraryPaths(home).db, { migrations: MIGRATIONS.slice(0, version) });
    const insert = old.prepare(
      `INSERT INTO runs (id, status, spec_json, model, dataset, optimizer, seed, created_at, updated_at, started_at)
         VALUES (?, ?, '{}', 'mlp', 'default', 'sgd', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?)`,
    );
    insert.run("queued-one", "queued", null);
    insert.run("stopped-one", "stopped", "2026-01-01T00:00:01Z");
    const pk = (old.prepare("SELECT pk FROM runs WHERE id = 'stopped-one'").get() as { pk: number })
      .pk;
    const ckpt = old.prepare(
      "INSERT INTO checkpoints (run_pk, epoch, step, path, created_at) VALUES (?, ?, 0, ?, 'x')",
    );
    ckpt.run(pk, 0, "runs/stopped-one/checkpoints/epoch-0000");
    ckpt.run(pk, 1, "runs/stopped-one/checkpoints/epoch-0001");
    old.close();
    store = RunStore.open(home);
    expect(libraryInternals(store).db.pragma("user_version", { simple: true })).toBe(
      SCHEMA_VERSION,
    );
    expect(store.getRun("queued-one")).toMatchObject({ status: "queued", attempt: 0 });
    expect(store.queuedRunIds()).toEqual(["queued-one"]);
    // The resume point comes from the newest checkpoint the library recorded.
    expect(store.getRun("stopped-one")).toMatchObject({
      status: "stopped",
      attempt: 1,
      resumeEpoch: 1,
    });
  });

  it("refuses SQLite files that are not libraries", () => {
    const other = mkdtempSync(join(tmpdir(), "store-other-"));
    const db = new Database(libraryPaths(other).db);
    db.exec("CREATE TABLE stuff (x)");
    db.close();
    expect(() => RunStore.open(other)).toThrow(/not an SGD Studio library/);
    const third = mkdtempSync(join(tmpdir(), "store-third-"));
    const db3 = new Database(libraryPaths(third).db);
    db3.pragma("application_id = 42");
    db3.close();
    expect(() => RunStore.open(third)).toThrow(/another application/);
    rmSync(other, { recursive: true, force: true });
    rmSync(third, { recursive: true, force: true });
  });
});

describe("runs", () => {
  it("creates a queued run with its spec, environment and a checkpoint folder in the library", () => {
    // A checkpointDir in the spec is ignored: checkpoints always live in the library.
    const run = store.createRun(testSpec({ checkpointDir: "/somewhere/else" }), { node: "20" });
    expect(run.id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(run.status).toBe("queued");
    expect(run.model).toBe("mlp");
    expect(run.dataset).toBe("default");
    expect(run.optimizer).toBe("sgd");
    expect(run.seed).toBe(7);
    expect(run.backend).toBe("cpu");
    expect(run.scheduleName).toBe("test-cosine");
    expect(run.environment).toEqual({ node: "20" });
    expect(run.spec).not.toHaveProperty("checkpointDir");
    expect(run.spec.noiseEvery).toBe(50); // defaults filled in
    expect(run.checkpointDir).toBe(join(home, "runs", run.id, "checkpoints"));
    const own = store.createRun(testSpec());
    expect(own.checkpointDir).toBe(join(home, "runs", own.id, "checkpoints"));
    expect(own.environment).toHaveProperty("node", process.versions.node);
  });

  it("rejects invalid specs and ids with a clear error", () => {
    expect(() => store.createRun(testSpec({ model: "" }))).toThrow(/invalid training spec: model/);
    expect(() => store.createRun(testSpec(), {}, { id: "../escape" })).toThrow(/invalid run id/);
  });

  it("finds runs by id or a unique part of it, and says when a part is ambiguous", () => {
    const a = store.createRun(testSpec(), {}, { id: "alpha-0001" });
    store.createRun(testSpec(), {}, { id: "alpha-0002" });
    expect(store.getRun("alpha-0001").id).toBe(a.id);
    expect(store.getRun("0001").id).toBe(a.id);
    expect(() => store.getRun("alpha")).toThrow(/matches several runs/);
    expect(() => store.getRun("nope-nope")).toThrow(/no run nope-nope/);
    expect(store.findRun("nope-nope")).toBeNull();
  });

  it("lists runs newest first, filtered by status, tag, model and dataset", () => {
    const a = store.createRun(testSpec(), {}, { id: "run-a" });
    const b = store.createRun(testSpec({ model: "cnn" }), {}, { id: "run-b" });
    const c = store.createRun(testSpec({ dataset: "cifar10" }), {}, { id: "run-c" });
    store.setStatus(b.id, "running");
    store.tag(a.id, "baseline");
    store.tag(c.id, "baseline");
    expect(store.listRuns().map((r) => r.id)).toEqual(["run-c", "run-b", "run-a"]);
    expect(store.listRuns({ order: "oldest", limit: 2 }).map((r) => r.id)).toEqual([
      "run-a",
      "run-b",
    ]);
    expect(store.listRuns({ status: "running" }).map((r) => r.id)).toEqual(["run-b"]);
    expect(store.listRuns({ status: ["queued"] }).map((r) => r.id)).toEqual(["run-c", "run-a"]);
    expect(store.listRuns({ tag: "baseline" }).map((r) => r.id)).toEqual(["run-c", "run-a"]);
    expect(store.listRuns({ model: "cnn" }).map((r) => r.id)).toEqual(["run-b"]);
    expect(store.listRuns({ dataset: "cifar10" }).map((r) => r.id)).toEqual(["run-c"]);
  });

  it("tags, untags and notes", () => {
    const run = store.createRun(testSpec());
    store.tag(run.id, "  lr-sweep ");
    store.tag(run.id, "lr-sweep");
    store.tag(run.id, "a");
    expect(store.getRun(run.id).tags).toEqual(["a", "lr-sweep"]);
    expect(store.untag(run.id, "a")).toBe(true);
    expect(store.untag(run.id, "a")).toBe(false);
    expect(() => store.tag(run.id, "")).toThrow(/1-64 printable/);
    expect(() => store.tag(run.id, "x\ny")).toThrow(/1-64 printable/);
    store.setNote(run.id, "diverged at epoch 3");
    store.setNote(run.id, "fine after warmup");
    expect(store.getRun(run.id).note).toBe("fine after warmup");
    store.setNote(run.id, null);
    expect(store.getRun(run.id).note).toBeNull();
  });
});

/** How to reach each state from queued. */
const PATHS: Record<RunStatus, RunStatus[]> = {
  queued: [],
  running: ["running"],
  paused: ["running", "paused"],
  completed: ["running", "completed"],
  stopped: ["running", "stopped"],
  failed: ["running", "failed"],
  interrupted: ["running", "interrupted"],
};

describe("state transitions", () => {
  const pairs = RUN_STATUSES.flatMap((from) => RUN_STATUSES.map((to) => [from, to] as const));
  it.each(pairs)("%s -> %s", (from, to) => {
    const run = store.createRun(testSpec());
    for (const s of PATHS[from]) store.setStatus(run.id, s);
    expect(store.getRun(run.id).status).toBe(from);
    const allowed = from === to || TRANSITIONS[from].includes(to);
    if (!allowed) {
      let err: unknown;
      try {
        store.setStatus(run.id, to);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe("illegal-transition");
      expect((err as Error).message).toMatch(
        new RegExp(`run ${run.id} cannot go from ${from} to ${to}`),
      );
      expect(store.getRun(run.id).status).toBe(from);
      return;
    }
    store.setStatus(run.id, to, {
      error: { code: "nan-loss", message: "loss became NaN", step: 5 },
    });
    const after = store.getRun(run.id);
    expect(after.status).toBe(to);
    if (to === "running" || to === "paused") {
      expect(after.startedAt).not.toBeNull();
      expect(after.finishedAt).toBeNull();
    }
    if (["completed", "stopped", "failed", "interrupted"].includes(to))
      expect(after.finishedAt).not.toBeNull();
    if ((to === "failed" || to === "interrupted") && from !== to)
      expect(after.error).toEqual({
        code: "nan-loss",
        message: "loss became NaN",
        step: 5,
        epoch: null,
      });
    if (to !== "failed" && to !== "interrupted") expect(after.error).toBeNull();
  });

  it("completed is final; stopped, interrupted and failed can be resumed", () => {
    expect(TRANSITIONS.completed).toEqual([]);
    for (const s of ["stopped", "interrupted", "failed"] as const) {
      expect(TRANSITIONS[s]).toContain("running");
      expect(TRANSITIONS[s]).toContain("queued");
    }
  });
});

describe("recoverInterrupted", () => {
  it("marks running and paused runs of dead processes interrupted, leaving live ones", () => {
    const dead = store.createRun(testSpec(), {}, { id: "dead-running" });
    const deadPaused = store.createRun(testSpec(), {}, { id: "dead-paused" });
    const live = store.createRun(testSpec(), {}, { id: "live-running" });
    const done = store.createRun(testSpec(), {}, { id: "completed-one" });
    for (const id of [dead.id, deadPaused.id, live.id, done.id]) store.setStatus(id, "running");
    store.setStatus(deadPaused.id, "paused");
    store.setStatus(done.id, "completed");
    const pid = (id: string) =>
      (
        libraryInternals(store).db.prepare("SELECT owner_pid FROM runs WHERE id = ?").get(id) as {
          owner_pid: number;
        }
      ).owner_pid;
    expect(pid(live.id)).toBe(process.pid);
    libraryInternals(store)
      .db.prepare("UPDATE runs SET owner_pid = 999999999 WHERE id IN (?, ?)")
      .run(dead.id, deadPaused.id);
    const changed = store.recoverInterrupted({
      liveness: (o) => (o.pid === process.pid ? "alive" : "dead"),
    });
    expect(changed.sort()).toEqual(["dead-paused", "dead-running"]);
    expect(store.getRun(dead.id).status).toBe("interrupted");
    expect(store.getRun(deadPaused.id).status).toBe("interrupted");
    expect(store.getRun(live.id).status).toBe("running");
    expect(store.getRun(done.id).status).toBe("completed");
    expect(store.getRun(dead.id).error?.message).toMatch(
      /pid 999999999 on .* ended without finishing it; resume continues from the start/,
    );
    // A live owner on this machine keeps its run even long after (a suspended laptop).
    expect(store.recoverInterrupted({ now: Date.now() + 3600_000 })).toEqual([]);
    // A pid now used by another process (started at another time) is not the owner.
    libraryInternals(store)
      .db.prepare("UPDATE runs SET owner_started = 'other-boot:1' WHERE id = ?")
      .run(live.id);
    expect(store.recoverInterrupted()).toEqual([live.id]);
  });

  it("leaves a fresh run of another machine alone, and recovers it once stale", () => {
    const run = store.createRun(testSpec());
    store.setStatus(run.id, "running");
    libraryInternals(store)
      .db.prepare("UPDATE runs SET owner_host = 'elsewhere' WHERE id = ?")
      .run(run.id);
    expect(store.recoverInterrupted()).toEqual([]);
    expect(store.recoverInterrupted({ now: Date.now() + 3600_000 })).toEqual([run.id]);
  });

  it("an interrupted run resumes from its newest committed checkpoint", () => {
    const run = store.createRun(testSpec());
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
    const dir = run.checkpointDir as string;
    for (const e of syntheticRun({ epochs: 3, finish: "none", checkpointDir: dir })) {
      if (e.type === "checkpoint") writeTestCheckpoint(dir, e.epoch, 0);
      rec.record(e);
    }
    rec.close();
    libraryInternals(store)
      .db.prepare("UPDATE runs SET owner_pid = 999999999 WHERE id = ?")
      .run(run.id);
    expect(store.recoverInterrupted({ liveness: () => "dead" })).toEqual([run.id]);
    expect(store.resumePoint(run.id)).toEqual({ path: join(dir, "epoch-0002"), epoch: 2 });
    // Only the newest checkpoint folder survives on disk (the recorder prunes older ones once committed).
    expect(store.checkpoints(run.id).map((c) => [c.epoch, c.exists])).toEqual([
      [0, false],
      [1, false],
      [2, true],
    ]);
  });
});

describe("deleteRun", () => {
  it("removes the run, its rows and its checkpoint folder in the library", () => {
    const run = store.createRun(testSpec());
    store.tag(run.id, "x");
    store.setNote(run.id, "n");
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
    const dir = run.checkpointDir as string;
    for (const e of syntheticRun({ epochs: 2, checkpointDir: dir })) {
      if (e.type === "checkpoint") writeTestCheckpoint(dir, e.epoch, 0);
      rec.record(e);
    }
    rec.close();
    const other = store.createRun(testSpec());
    expect(existsSync(join(dir, "latest.json"))).toBe(true);
    const { removed } = store.deleteRun(run.id);
    expect(removed).toEqual([join(home, "runs", run.id)]);
    expect(existsSync(join(home, "runs", run.id))).toBe(false);
    expect(store.findRun(run.id)).toBeNull();
    for (const t of [
      "metric_chunks",
      "metric_summaries",
      "metric_axis",
      "run_metrics",
      "tags",
      "notes",
      "checkpoints",
    ]) {
      const { n } = libraryInternals(store).db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as {
        n: number;
      };
      expect(n, t).toBe(0);
    }
    expect(store.getRun(other.id).id).toBe(other.id);
  });

  it("never deletes anything outside the library (checkpoints an old version wrote elsewhere stay)", () => {
    const outside = mkdtempSync(join(tmpdir(), "store-ckpt-"));
    writeFileSync(join(outside, "notes.txt"), "keep me");
    const run = store.createRun(testSpec());
    // A run recorded by an older version with --checkpoint-dir outside the library.
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
    for (const e of syntheticRun({ epochs: 2, checkpointDir: outside })) {
      if (e.type === "checkpoint") writeTestCheckpoint(outside, e.epoch, 0);
      rec.record(e);
    }
    rec.close();
    const { removed, kept } = store.deleteRun(run.id);
    expect(removed).toEqual([]);
    expect(kept).toEqual([join(outside, "epoch-0000"), join(outside, "epoch-0001")]);
    expect(readdirSync(outside).sort()).toEqual([
      "epoch-0000",
      "epoch-0001",
      "latest.json",
      "notes.txt",
    ]);
    rmSync(outside, { recursive: true, force: true });
  });

  it("refuses to delete a run that is training", () => {
    const run = store.createRun(testSpec());
    store.setStatus(run.id, "running");
    expect(() => store.deleteRun(run.id)).toThrow(/is running; stop it before deleting it/);
  });
});

describe("queue order", () => {
  it("keeps the order the user set across reopening; unranked runs follow oldest first", () => {
    const [a, b, c, d] = [1, 2, 3, 4].map(() => store.createRun(testSpec()).id) as [
      string,
      string,
      string,
      string,
    ];
    expect(store.queuedRunIds()).toEqual([a, b, c, d]);
    store.setQueueOrder([c, a]);
    expect(store.queuedRunIds()).toEqual([c, a, b, d]);
    store.close();
    store = RunStore.open(home);
    expect(store.queuedRunIds()).toEqual([c, a, b, d]);
    // A new ranking replaces the old one.
    store.setQueueOrder([d]);
    expect(store.queuedRunIds()).toEqual([d, a, b, c]);
  });

  it("drops a run's rank when it leaves the queue, and ranks only queued runs", () => {
    const [a, b] = [1, 2].map(() => store.createRun(testSpec()).id) as [string, string];
    store.setQueueOrder([b, a]);
    store.setStatus(b, "running");
    expect(store.queuedRunIds()).toEqual([a]);
    const rank = libraryInternals(store)
      .db.prepare("SELECT queue_rank FROM runs WHERE id = ?")
      .get(b) as {
      queue_rank: number | null;
    };
    expect(rank.queue_rank).toBeNull();
    expect(() => store.setQueueOrder([b])).toThrow(/is running, not queued/);
    expect(() => store.setQueueOrder(["20260101-000000-abcdef"])).toThrow(/no run/);
    // A refused ranking changes nothing.
    expect(store.queuedRunIds()).toEqual([a]);
  });
});
