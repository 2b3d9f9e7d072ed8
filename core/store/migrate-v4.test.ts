// Schema version 4 (metrics in chunks) from a version-2 or version-3 library with runs of every
// status: every run kept as it was, and every value: the metric_values view, the JSON export and
// the CSV export give exactly what the old rows gave (computed here with the old export's SQL).
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { libraryPaths } from "./paths.js";
import { type Db, MIGRATIONS, openDatabase, SCHEMA_VERSION } from "./schema.js";
import { verifySeries } from "./series.js";
import { RUN_STATUSES } from "./states.js";
import { libraryInternals, RunStore } from "./store.js";
import { csvChunks } from "./transfer.js";

let home = "";
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "migrate-v4-"));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

function rng(seed: number): () => number {
  let a = seed * 2654435761 + 7;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Rows as the version-1 to 3 recorder wrote them (INSERT OR REPLACE INTO metrics): step keys at
 * every step (float32 losses, float64 learning rates, integer batch sizes, a missing value),
 * epoch keys at the epoch's last step with their own epochs done and wall time, a key at every
 * fifth step, and a value written twice (the second wins).
 */
function oldRows(db: Db, pk: number, seed: number, epochs: number): void {
  const key = (name: string) => {
    db.prepare("INSERT OR IGNORE INTO metric_keys (name) VALUES (?)").run(name);
    return (db.prepare("SELECT id FROM metric_keys WHERE name = ?").get(name) as { id: number }).id;
  };
  const insert = db.prepare(
    `INSERT OR REPLACE INTO metrics (run_pk, key_id, step, epoch, epochs_done, samples, wall_time, value)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const random = rng(seed);
  const perEpoch = 37;
  let samples = 0;
  let wall = 0;
  for (let e = 0; e < epochs; e++) {
    for (let i = 0; i < perEpoch; i++) {
      const step = e * perEpoch + i;
      samples += 32;
      wall += 0.01 + random() * 0.01;
      const x = [step, e, e + (i + 1) / perEpoch, samples, wall] as const;
      insert.run(pk, key("loss"), ...x, step === 40 ? null : Math.fround(2 * random()));
      insert.run(pk, key("lr"), ...x, 0.1 * Math.cos(step / 100));
      insert.run(pk, key("batchSize"), ...x, 32);
      if (step % 5 === 0) insert.run(pk, key("gradNorm"), ...x, random() * 3);
    }
    const last = (e + 1) * perEpoch - 1;
    const x = [last, e, e + 1, samples, wall + 0.5] as const;
    insert.run(pk, key("testAccuracy"), ...x, 0.5 + e * 0.1 + random() * 0.01);
    insert.run(pk, key("testLoss"), ...x, e === 1 ? null : random());
  }
  // The same step again: replaced, as INSERT OR REPLACE did.
  insert.run(pk, key("lr"), 3, 0, 4 / perEpoch, 128, 0.04, 42);
}

/** What the old export read for a run: its rows by key name, then step (transfer.ts before v4). */
function oldExport(db: Db, pk: number) {
  const rows = db
    .prepare(
      `SELECT k.name AS key, m.step, m.epoch, m.epochs_done AS epochsDone, m.samples,
              m.wall_time AS wallTime, m.value
       FROM metrics m JOIN metric_keys k ON k.id = m.key_id WHERE m.run_pk = ?
       ORDER BY k.name, m.step`,
    )
    .raw()
    .all(pk) as [string, number, number, number, number, number, number | null][];
  const metrics: Record<string, Record<string, (number | null)[]>> = {};
  const csv: string[] = [];
  const id = (db.prepare("SELECT id FROM runs WHERE pk = ?").get(pk) as { id: string }).id;
  for (const [key, step, epoch, epochsDone, samples, wallTime, value] of rows) {
    metrics[key] ??= { step: [], epoch: [], epochsDone: [], samples: [], wallTime: [], value: [] };
    const m = metrics[key];
    m.step?.push(step);
    m.epoch?.push(epoch);
    m.epochsDone?.push(epochsDone);
    m.samples?.push(samples);
    m.wallTime?.push(wallTime);
    m.value?.push(value);
    csv.push(`${id},${key},${step},${epoch},${epochsDone},${samples},${wallTime},${value ?? ""}\n`);
  }
  return { metrics, csv: csv.join("") };
}

describe.each([2, 3])("a version-%i library", (version) => {
  it("migrates to chunks keeping every run of every status and every value exactly", () => {
    const old = openDatabase(libraryPaths(home).db, { migrations: MIGRATIONS.slice(0, version) });
    expect(old.pragma("user_version", { simple: true })).toBe(version);
    const insert = old.prepare(
      `INSERT INTO runs (id, status, spec_json, model, dataset, optimizer, seed, created_at, updated_at,
         started_at, finished_at, owner_host, owner_pid, error_code, error_message, final_test_accuracy)
       VALUES (@id, @status, '{"dataset":"default","model":"mlp","seed":1}', 'mlp', 'default', 'sgd', 1,
         '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', @started, @finished, @host, @pid, @code, @message, @acc)`,
    );
    const pks: number[] = [];
    for (const [i, status] of RUN_STATUSES.entries()) {
      const active = status === "running" || status === "paused";
      const info = insert.run({
        id: `run-${status}`,
        status,
        started: status === "queued" ? null : "2026-01-01T00:00:01Z",
        finished: status === "queued" || active ? null : "2026-01-01T00:10:00Z",
        host: active ? "elsewhere" : null,
        pid: active ? 4242 : null,
        code: status === "failed" ? "nan-loss" : status === "interrupted" ? "interrupted" : null,
        message: status === "failed" || status === "interrupted" ? "why" : null,
        acc: status === "completed" ? 0.9 : null,
      });
      const pk = Number(info.lastInsertRowid);
      pks.push(pk);
      if (status !== "queued") oldRows(old, pk, i + 1, status === "completed" ? 4 : 2);
    }
    const view = "SELECT * FROM metric_values ORDER BY run_id, key, step";
    const viewBefore = old.prepare(view).all();
    const runsBefore = old.prepare("SELECT * FROM runs ORDER BY pk").all();
    const exportsBefore = pks.map((pk) => oldExport(old, pk));
    expect(viewBefore.length).toBeGreaterThan(1500);
    old.close();

    const store = RunStore.open(home, { recover: false });
    const db = libraryInternals(store).db;
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(
      db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'metrics'").get(),
    ).toEqual({ n: 0 });
    // Runs untouched (the version-3 columns filled as before), values identical.
    const runsAfter = db.prepare("SELECT * FROM runs ORDER BY pk").all() as Record<
      string,
      unknown
    >[];
    expect(runsAfter.map((r) => [r.id, r.status])).toEqual(
      RUN_STATUSES.map((s) => [`run-${s}`, s]),
    );
    // From version 3, later migrations (v5: sweeps) only add columns, empty for these runs.
    const laterColumns = Object.keys(runsAfter[0] ?? {}).filter(
      (c) => !(c in ((runsBefore[0] ?? {}) as object)),
    );
    if (version === 3)
      for (const run of runsAfter) for (const c of laterColumns) expect(run[c]).toBeNull();
    const withoutLater = runsAfter.map((r) =>
      Object.fromEntries(Object.entries(r).filter(([c]) => !laterColumns.includes(c))),
    );
    if (version === 3) expect(withoutLater).toEqual(runsBefore);
    expect(db.prepare(view).all()).toEqual(viewBefore);
    const ids = RUN_STATUSES.map((s) => `run-${s}`);
    const doc = store.exportRuns(ids);
    for (const [i, run] of doc.runs.entries())
      expect(run.metrics).toEqual(exportsBefore[i]?.metrics);
    expect([...csvChunks(store, ids)].join("")).toBe(
      `${"run_id,key,step,epoch,epochs_done,samples,wall_time,value"}\n${exportsBefore.map((e) => e.csv).join("")}`,
    );
    // Stored compactly: the step keys share the run's axis; the epoch-end values carry their own x.
    const chunks = db
      .prepare(
        `SELECT k.name, c.x IS NULL AS implicit, c.steps IS NULL AS contiguous, c.width
         FROM metric_chunks c JOIN metric_keys k ON k.id = c.key_id JOIN runs r ON r.pk = c.run_pk
         WHERE r.id = 'run-completed' ORDER BY k.name`,
      )
      .all();
    expect(chunks).toEqual([
      { name: "batchSize", implicit: 1, contiguous: 1, width: 4 },
      { name: "gradNorm", implicit: 1, contiguous: 0, width: 8 },
      { name: "loss", implicit: 1, contiguous: 1, width: 4 },
      { name: "lr", implicit: 0, contiguous: 1, width: 8 },
      { name: "testAccuracy", implicit: 0, contiguous: 0, width: 8 },
      { name: "testLoss", implicit: 0, contiguous: 0, width: 8 },
    ]);
    for (const pk of pks) expect(verifySeries(db, pk)).toEqual([]);
    // Best and final from run_metrics agree with the values.
    const acc = store.bestAndFinal("run-completed", "testAccuracy");
    const accs = doc.runs.find((r) => r.id === "run-completed")?.metrics.testAccuracy;
    expect(acc.final?.value).toBe(accs?.value.at(-1));
    expect(acc.best?.value).toBe(Math.max(...(accs?.value as number[])));
    expect(acc.count).toBe(4);
    expect(store.bestAndFinal("run-stopped", "testLoss").count).toBe(1);
    store.close();
  });
});

describe("a version-3 library of some size", () => {
  it("is compacted after the migration: the old table's pages are given back, every value kept", () => {
    const old = openDatabase(libraryPaths(home).db, { migrations: MIGRATIONS.slice(0, 3) });
    const insert = old.prepare(
      `INSERT INTO runs (id, status, spec_json, model, dataset, optimizer, seed, created_at, updated_at)
       VALUES (?, 'completed', '{"dataset":"default","model":"mlp","seed":1}', 'mlp', 'default', 'sgd', 1,
         '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
    );
    // 6 runs x 60 epochs x 37 steps: ~45,000 rows, a few MB in the one-row-per-value table.
    old.transaction(() => {
      for (let r = 0; r < 6; r++)
        oldRows(old, Number(insert.run(`run-${r}`).lastInsertRowid), r + 1, 60);
    })();
    const values = (old.prepare("SELECT count(*) AS n FROM metrics").get() as { n: number }).n;
    expect(values).toBeGreaterThan(40_000);
    old.pragma("wal_checkpoint(TRUNCATE)");
    const bytesBefore = statSync(libraryPaths(home).db).size;
    old.close();

    const store = RunStore.open(home, { recover: false });
    const db = libraryInternals(store).db;
    const pages = db.pragma("page_count", { simple: true }) as number;
    expect(db.pragma("freelist_count", { simple: true }) as number).toBeLessThan(pages * 0.05);
    // The file itself shrank (not only its live pages), the log folded in.
    const bytesAfter = statSync(libraryPaths(home).db).size;
    expect(bytesAfter).toBeLessThan(bytesBefore * 0.6);
    const after = db.prepare("SELECT count(*) AS n FROM metric_values").get() as { n: number };
    expect(after.n).toBe(values);
    store.close();
  });
});
