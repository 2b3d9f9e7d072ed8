// Schema version 4 (metrics in chunks) from a version-2 or version-3 library with runs of every
// status: every run kept as it was, and every value: the metric_values view, the JSON export and
// the CSV export give exactly what the old rows gave (computed here with the old export's SQL).
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { oldExport, writeOldLibrary } from "./legacy-fixtures.js";
import { libraryPaths } from "./paths.js";
import { SCHEMA_VERSION } from "./schema.js";
import { verifySeries } from "./series.js";
import { RUN_STATUSES } from "./states.js";
import { libraryInternals, RunStore } from "./store.js";
import { csvChunks } from "./transfer.js";

let home = "";
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "migrate-v4-"));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe.each([2, 3])("a version-%i library", (version) => {
  it("migrates to chunks keeping every run of every status and every value exactly", () => {
    const pks = writeOldLibrary(home, { version });
    const old = new Database(libraryPaths(home).db);
    expect(old.pragma("user_version", { simple: true })).toBe(version);
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
    // Runs of every status, twice, up to 60 epochs: ~50,000 rows, a few MB in the one-row-per-value table.
    writeOldLibrary(home, { version: 3, epochs: 60, sets: 2 });
    const old = new Database(libraryPaths(home).db);
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
