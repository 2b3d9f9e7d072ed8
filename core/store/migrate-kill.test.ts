// A crash during the version-4 migration or the compaction after it: a second process opens a
// version-3 library (migrating and compacting it) and is SIGKILLed at several moments, found by
// what it announces (SGD_STUDIO_TEST_MIGRATION_MOMENTS stops it there) and by the files it writes.
// After each kill the library opens again, ends at the latest schema with every run of every
// status, every value and every note exactly as before, passes integrity_check, and a later open
// loses nothing either. A reader holding a read transaction across the migration sees its own
// consistent snapshot and does not stop it.
import { type ChildProcess, fork } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Rng } from "../data/rng.js";
import { oldExport, writeOldLibrary } from "./legacy-fixtures.js";
import { libraryPaths } from "./paths.js";
import { SCHEMA_VERSION } from "./schema.js";
import { verifySeries } from "./series.js";
import { libraryInternals, RunStore } from "./store.js";

const CHILD = fileURLToPath(new URL("./migrate-child.ts", import.meta.url));
const dirs: string[] = [];
const temp = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** What must survive: the runs (their version-3 columns), every value, every note. */
interface Content {
  runs: unknown[];
  statuses: string[];
  values: number;
  valuesDigest: string;
  notesDigest: string;
}

const sha = (data: unknown) => createHash("sha256").update(JSON.stringify(data)).digest("hex");
const FIELDS = ["step", "epoch", "epochsDone", "samples", "wallTime", "value"] as const;

/** The content of a library's runs; their metrics as the JSON export gives them (`metrics` of each run). */
function content(
  db: Database.Database,
  metrics: Record<string, Record<string, (number | null)[]>>[],
  runColumns?: string[],
): Content {
  const runs = db.prepare("SELECT * FROM runs ORDER BY pk").all() as Record<string, unknown>[];
  const columns = runColumns ?? Object.keys(runs[0] ?? {});
  // Keys by name, fields in one order: the same digest whichever code built the objects.
  const canonical = metrics.map((m) =>
    Object.keys(m)
      .sort()
      .map((key) => [key, FIELDS.map((f) => m[key]?.[f])]),
  );
  return {
    runs: runs.map((r) => Object.fromEntries(columns.map((c) => [c, r[c]]))),
    statuses: runs.map((r) => r.status as string),
    values: metrics.reduce(
      (n, m) => n + Object.values(m).reduce((k, s) => k + (s.value?.length ?? 0), 0),
      0,
    ),
    valuesDigest: sha(canonical),
    notesDigest: sha(db.prepare("SELECT * FROM notes ORDER BY run_pk").raw().all()),
  };
}

let base = "";
let before: Content;
let runColumns: string[] = [];

/**
 * A version-3 library: runs of every status three times (~150,000 values; migrating them takes
 * ~0.5 s here), each with a note of ~0.7 MB (live data VACUUM copies: ~0.2 s instead of ~0.05 s,
 * long enough to be stopped in), and 16 MB of pages freed earlier (a dropped table).
 */
beforeAll(() => {
  base = temp("migrate-kill-base-");
  writeOldLibrary(base, { version: 3, epochs: 120, sets: 3 });
  const db = new Database(libraryPaths(base).db);
  const random = Rng.from(99);
  const pks = db.prepare("SELECT pk FROM runs ORDER BY pk").pluck().all() as number[];
  db.transaction(() => {
    const note = db.prepare("INSERT INTO notes (run_pk, body, updated_at) VALUES (?, ?, ?)");
    for (const pk of pks) {
      const words: string[] = [];
      for (let n = 0; n < 60_000; n++) words.push(random.uniform().toString(36).slice(2, 12));
      note.run(pk, words.join(" "), "2026-01-01T00:00:00Z");
    }
    db.exec("CREATE TABLE deleted_junk (b BLOB)");
    const junk = db.prepare("INSERT INTO deleted_junk (b) VALUES (zeroblob(1048576))");
    for (let i = 0; i < 16; i++) junk.run();
  })();
  db.exec("DROP TABLE deleted_junk");
  // The old export's reading of the one-row-per-value table (the v4 migration test checks that
  // it equals the JSON export of a migrated library).
  before = content(
    db,
    pks.map((pk) => oldExport(db, pk).metrics),
  );
  runColumns = Object.keys(before.runs[0] as object);
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  expect(before.statuses).toContain("queued");
  expect(new Set(before.statuses).size).toBe(7);
  expect(before.values).toBeGreaterThan(140_000);
}, 60_000);

interface Child {
  child: ChildProcess;
  home: string;
  db: string;
  /** The moments the child announced so far. */
  moments: string[];
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A copy of the version-3 library (or the one in `existing`), opened by a second process stopping at `stopAt` ("-": nowhere). */
function openInChild(stopAt: string, existing?: string): Child {
  const home = existing ?? temp("migrate-kill-");
  const db = libraryPaths(home).db;
  if (!existing) {
    mkdirSync(dirname(db), { recursive: true });
    copyFileSync(libraryPaths(base).db, db);
  }
  const child = fork(CHILD, [home], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    env: { ...process.env, SGD_STUDIO_TEST_MIGRATION_MOMENTS: stopAt },
  });
  let err = "";
  const moments: string[] = [];
  child.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
    moments.splice(
      0,
      moments.length,
      ...[...err.matchAll(/^sgd-studio-test: (\S+)$/gm)].map((m) => m[1] as string),
    );
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("exit", (code, signal) => r({ code, signal })),
  );
  return { child, home, db, moments, err: () => err, exited };
}

/** Waits (polling every 2 ms) until `pred` holds; fails after 30 s with `what`. */
async function until(pred: () => boolean, what: string, c: Child): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > 30_000) {
      c.child.kill("SIGKILL");
      throw new Error(`timed out waiting for ${what}: ${c.err()}`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The child is stopped (state T in /proc): it reached the moment and did nothing after it. */
const stopped = (c: Child) => () =>
  /^\d+ \(.*\) T /.test(readFileSync(`/proc/${c.child.pid}/stat`, "utf8"));

async function kill(c: Child): Promise<void> {
  c.child.kill("SIGKILL");
  const { signal } = await c.exited;
  expect(signal).toBe("SIGKILL");
  expect(c.err()).not.toMatch(/opened in/);
}

const size = (file: string) => statSync(file, { throwIfNoEntry: false })?.size ?? 0;

/** The compaction after the migration has not run yet (schema.ts). */
const owed = (db: Database.Database) =>
  db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'compaction_owed'").get() !== undefined;

/** The file as the kill left it, read by a plain connection (no migration): where the kill landed. */
function killedState(c: Child) {
  const raw = new Database(c.db);
  const pages = raw.pragma("page_count", { simple: true }) as number;
  const state = {
    version: raw.pragma("user_version", { simple: true }) as number,
    freeShare: (raw.pragma("freelist_count", { simple: true }) as number) / pages,
    integrity: raw.pragma("integrity_check", { simple: true }),
    owed: owed(raw),
  };
  raw.close();
  return state;
}

/** Opens the killed library as a host does, then again: everything there, at the latest schema. */
function expectIntact(c: Child): void {
  for (let open = 0; open < 2; open++) {
    const store = RunStore.open(c.home, { recover: false });
    const db = libraryInternals(store).db;
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    // Compacted too, whenever the kill came: the old table's pages are not left free.
    expect(owed(db)).toBe(false);
    const pages = db.pragma("page_count", { simple: true }) as number;
    expect(db.pragma("freelist_count", { simple: true })).toBeLessThan(pages * 0.05);
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(db.pragma("foreign_key_check")).toEqual([]);
    expect(
      db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'metrics'").get(),
    ).toEqual({ n: 0 });
    const ids = db.prepare("SELECT id FROM runs ORDER BY pk").pluck().all() as string[];
    const after = content(
      db,
      store.exportRuns(ids).runs.map((r) => r.metrics),
      runColumns,
    );
    expect(after.statuses).toEqual(before.statuses);
    expect(after.runs).toEqual(before.runs);
    expect(after.values).toBe(before.values);
    expect(after.valuesDigest).toBe(before.valuesDigest);
    expect(after.notesDigest).toBe(before.notesDigest);
    // Axis, summaries and per-run finals agree with the values of every run.
    const pks = db.prepare("SELECT pk FROM runs").pluck().all() as number[];
    for (const pk of pks) expect(verifySeries(db, pk)).toEqual([]);
    store.close();
  }
}

describe("a crash while a version-3 library is migrated and compacted", () => {
  it("SIGKILL in the middle of the migration transaction (half the runs moved into chunks): rolled back, migrated again", async () => {
    const moment = `migration-4-moving-${Math.floor(before.runs.length / 2)}`;
    const c = openInChild(moment);
    await until(stopped(c), moment, c);
    await kill(c);
    expect(c.moments.at(-1)).toBe(moment);
    expect(killedState(c)).toMatchObject({ version: 3, integrity: "ok", owed: false });
    expectIntact(c);
  });

  it.each([
    ["migration-4-written", 3, false],
    ["migration-4-committed", 4, true],
    ["migration-5-committed", 5, true],
  ])("SIGKILL at %s: the library resumes from version %i", async (moment, version, isOwed) => {
    const c = openInChild(moment);
    await until(stopped(c), moment, c);
    expect(c.moments.at(-1)).toBe(moment);
    await kill(c);
    expect(killedState(c)).toMatchObject({ version, integrity: "ok", owed: isOwed });
    expectIntact(c);
  });

  it("SIGKILL during the VACUUM, early (building its copy) and late (writing it into the log): compacted at the next open", async () => {
    for (const late of [false, true]) {
      // The kill must land before the VACUUM commits (~0.2 s here); a test process held up past
      // that (a loaded machine) tries again, up to three times.
      let hit = false;
      for (let attempt = 0; attempt < 3 && !hit; attempt++) {
        const c = openInChild("compact-vacuum");
        await until(stopped(c), "compact-vacuum", c);
        const wal = size(`${c.db}-wal`);
        c.child.kill("SIGCONT");
        if (late)
          await until(() => size(`${c.db}-wal`) > wal + 2 ** 20, "VACUUM to write into the log", c);
        await kill(c);
        const state = killedState(c);
        expect(state).toMatchObject({ version: SCHEMA_VERSION, integrity: "ok" });
        // Not committed: the dropped table's pages still free, the compaction still owed.
        hit = state.owed && state.freeShare > 0.2 && c.moments.at(-1) === "compact-vacuum";
        expectIntact(c);
      }
      expect(hit).toBe(true);
    }
  });

  it("SIGKILL after the VACUUM committed (SQLite's automatic checkpoint copied it into the file)", async () => {
    const c = openInChild("compact-checkpoint");
    await until(stopped(c), "compact-checkpoint", c);
    await kill(c);
    const state = killedState(c);
    expect(state).toMatchObject({ version: SCHEMA_VERSION, integrity: "ok", owed: false });
    expect(state.freeShare).toBeLessThan(0.05);
    expectIntact(c);
  });

  it("a reader holding a read transaction through the VACUUM: SIGKILL while the checkpoint waits for it, the compacted file only in the log", async () => {
    const c = openInChild("compact-vacuum");
    await until(stopped(c), "compact-vacuum", c);
    // A second connection reading the migrated library (a host showing it): its snapshot keeps
    // SQLite from copying the VACUUM's pages into the file, and the TRUNCATE checkpoint waits
    // for it (up to the 10 s busy timeout).
    const reader = new Database(c.db);
    reader.exec("BEGIN");
    expect(reader.prepare("SELECT count(*) AS n FROM runs").get()).toEqual({
      n: before.runs.length,
    });
    const bytes = size(c.db);
    c.child.kill("SIGCONT");
    await until(() => c.moments.at(-1) === "compact-checkpoint", "the VACUUM to commit", c);
    await kill(c);
    expect(c.moments.at(-1)).toBe("compact-checkpoint");
    // The reader still reads its snapshot, and the file was not rewritten under it.
    expect(reader.prepare("SELECT count(*) AS n FROM notes").get()).toEqual({
      n: before.runs.length,
    });
    expect(size(c.db)).toBe(bytes);
    expect(size(`${c.db}-wal`)).toBeGreaterThan(bytes * 0.5);
    reader.exec("COMMIT");
    reader.close();
    const state = killedState(c);
    expect(state).toMatchObject({ version: SCHEMA_VERSION, integrity: "ok", owed: false });
    expect(state.freeShare).toBeLessThan(0.05);
    expectIntact(c);
  });

  it("a reader held through the VACUUM, then let go: SIGKILL while the checkpoint copies the log into the file", async () => {
    const c = openInChild("compact-vacuum");
    await until(stopped(c), "compact-vacuum", c);
    const reader = new Database(c.db);
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM runs").get();
    c.child.kill("SIGCONT");
    await until(() => c.moments.at(-1) === "compact-checkpoint", "the VACUUM to commit", c);
    const { mtimeMs } = statSync(c.db);
    reader.exec("COMMIT");
    // The waiting checkpoint goes on: killed as soon as it writes the file (in the copy, or
    // right after it on a slow machine).
    await until(() => statSync(c.db).mtimeMs !== mtimeMs, "the checkpoint to write the file", c);
    await kill(c);
    reader.close();
    expect(killedState(c)).toMatchObject({ version: SCHEMA_VERSION, integrity: "ok", owed: false });
    expectIntact(c);
  });

  it("SIGKILL after the checkpoint, before the library is closed", async () => {
    const c = openInChild("compact-done");
    await until(stopped(c), "compact-done", c);
    await kill(c);
    expect(killedState(c)).toMatchObject({ version: SCHEMA_VERSION, integrity: "ok", owed: false });
    expect(size(`${c.db}-wal`)).toBe(0);
    expect(size(c.db)).toBeLessThan(size(libraryPaths(base).db) * 0.8);
    expectIntact(c);
  });

  it("a reader holding a version-3 snapshot through the whole migration: it reads the old table throughout, the migration completes", async () => {
    const home = temp("migrate-kill-");
    const file = libraryPaths(home).db;
    mkdirSync(dirname(file), { recursive: true });
    copyFileSync(libraryPaths(base).db, file);
    const reader = new Database(file);
    reader.exec("BEGIN");
    const count = "SELECT count(*) AS n FROM metrics";
    const n = (reader.prepare(count).get() as { n: number }).n;
    expect(n).toBe(before.values);
    const c = openInChild("compact-checkpoint", home);
    await until(stopped(c), "compact-checkpoint", c);
    // Migrated and vacuumed under it: the reader still sees the version-3 library.
    expect(reader.pragma("user_version", { simple: true })).toBe(3);
    expect(reader.prepare(count).get()).toEqual({ n });
    reader.exec("COMMIT");
    reader.close();
    c.child.kill("SIGCONT");
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(c.moments.at(-1)).toBe("compact-done");
    expect(killedState(c)).toMatchObject({ version: SCHEMA_VERSION, integrity: "ok", owed: false });
    expectIntact(c);
  });
});
