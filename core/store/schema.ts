/**
 * The library's SQLite schema and its migrations (documented in docs/storage.md).
 *
 * The schema version is SQLite's `PRAGMA user_version`; `PRAGMA application_id`
 * marks the file as an SGD Studio library. Opening a library applies every
 * migration newer than its version, each in its own IMMEDIATE transaction (so
 * two processes opening a new library at once cannot both migrate), and
 * refuses a library written by a newer build instead of touching it.
 */
import { accessSync, constants, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { sqlFloat, sqlUint } from "./codec.js";
import { StoreError } from "./errors.js";
import { appendRows, ROW_WIDTH } from "./series.js";

export type Db = Database.Database;

export const nowIso = (): string => new Date().toISOString();

/** "SGDS" as a 32-bit integer, in the file header (offset 68). */
export const APPLICATION_ID = 0x53474453;

export interface Migration {
  version: number;
  description: string;
  up: (db: Db) => void;
  /** Drops most of what the file held (the file is compacted after it: see compactAfterMigration). */
  reclaims?: boolean;
}

const V1 = `
CREATE TABLE runs (
  pk                   INTEGER PRIMARY KEY,
  id                   TEXT NOT NULL UNIQUE,
  status               TEXT NOT NULL CHECK (status IN
                         ('queued','running','paused','completed','stopped','failed','interrupted')),
  spec_json            TEXT NOT NULL CHECK (json_valid(spec_json)),
  schedule_json        TEXT CHECK (schedule_json IS NULL OR json_valid(schedule_json)),
  schedule_name        TEXT,
  model                TEXT NOT NULL,
  dataset              TEXT NOT NULL,
  optimizer            TEXT NOT NULL,
  seed                 INTEGER NOT NULL,
  backend              TEXT,
  environment_json     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(environment_json)),
  error_code           TEXT,
  error_message        TEXT,
  error_step           INTEGER,
  error_epoch          INTEGER,
  created_at           TEXT NOT NULL,
  started_at           TEXT,
  finished_at          TEXT,
  updated_at           TEXT NOT NULL,
  planned_epochs       INTEGER,
  planned_steps        INTEGER,
  last_epoch           INTEGER,
  last_step            INTEGER,
  samples              INTEGER,
  wall_time            REAL,
  final_train_loss     REAL,
  final_train_accuracy REAL,
  final_test_loss      REAL,
  final_test_accuracy  REAL,
  best_test_accuracy   REAL,
  best_epoch           INTEGER,
  checkpoint_dir       TEXT,
  owner_host           TEXT,
  owner_pid            INTEGER
);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_created ON runs(created_at);

CREATE TABLE metric_keys (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE metrics (
  run_pk      INTEGER NOT NULL REFERENCES runs(pk) ON DELETE CASCADE,
  key_id      INTEGER NOT NULL REFERENCES metric_keys(id),
  step        INTEGER NOT NULL,
  epoch       INTEGER NOT NULL,
  epochs_done REAL NOT NULL,
  samples     INTEGER NOT NULL,
  wall_time   REAL NOT NULL,
  value       REAL,
  PRIMARY KEY (run_pk, key_id, step)
) WITHOUT ROWID;

CREATE TABLE tags (
  run_pk     INTEGER NOT NULL REFERENCES runs(pk) ON DELETE CASCADE,
  tag        TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (run_pk, tag)
) WITHOUT ROWID;
CREATE INDEX tags_tag ON tags(tag);

CREATE TABLE notes (
  run_pk     INTEGER PRIMARY KEY REFERENCES runs(pk) ON DELETE CASCADE,
  body       TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE checkpoints (
  run_pk     INTEGER NOT NULL REFERENCES runs(pk) ON DELETE CASCADE,
  epoch      INTEGER NOT NULL,
  step       INTEGER,
  path       TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (run_pk, epoch)
) WITHOUT ROWID;

CREATE VIEW metric_values AS
  SELECT r.id AS run_id, k.name AS key, m.step, m.epoch, m.epochs_done, m.samples,
         m.wall_time, m.value
  FROM metrics m JOIN runs r ON r.pk = m.run_pk JOIN metric_keys k ON k.id = m.key_id;
`;

/** Schema version 4: metric series in chunks (series.ts, codec.ts). */
const V4_TABLES = `
CREATE TABLE metric_axis (
  run_pk      INTEGER NOT NULL REFERENCES runs(pk) ON DELETE CASCADE,
  first_step  INTEGER NOT NULL,
  n           INTEGER NOT NULL,
  epoch0      INTEGER NOT NULL,
  max_epoch   INTEGER NOT NULL,
  samples0    INTEGER NOT NULL,
  epoch_width INTEGER NOT NULL CHECK (epoch_width IN (1, 2)),
  epochs      BLOB NOT NULL,
  samples     BLOB NOT NULL,
  epochs_done BLOB NOT NULL,
  wall_time   BLOB NOT NULL,
  PRIMARY KEY (run_pk, first_step)
);
CREATE INDEX metric_axis_epoch ON metric_axis(run_pk, max_epoch);

CREATE TABLE metric_chunks (
  run_pk     INTEGER NOT NULL REFERENCES runs(pk) ON DELETE CASCADE,
  key_id     INTEGER NOT NULL REFERENCES metric_keys(id),
  seq        INTEGER NOT NULL,
  n          INTEGER NOT NULL CHECK (n BETWEEN 1 AND 1024),
  first_step INTEGER NOT NULL,
  last_step  INTEGER NOT NULL,
  width      INTEGER NOT NULL CHECK (width IN (4, 8)),
  steps      BLOB,
  x          BLOB,
  vals       BLOB NOT NULL,
  PRIMARY KEY (run_pk, key_id, seq)
);

CREATE TABLE metric_summaries (
  run_pk      INTEGER NOT NULL REFERENCES runs(pk) ON DELETE CASCADE,
  key_id      INTEGER NOT NULL REFERENCES metric_keys(id),
  seq         INTEGER NOT NULL,
  n           INTEGER NOT NULL,
  count       INTEGER NOT NULL,
  first_step  INTEGER NOT NULL,
  last_step   INTEGER NOT NULL,
  min_epoch   INTEGER NOT NULL,
  max_epoch   INTEGER NOT NULL,
  ed0 REAL NOT NULL, ed1 REAL NOT NULL,
  samples0 REAL NOT NULL, samples1 REAL NOT NULL,
  wall0 REAL NOT NULL, wall1 REAL NOT NULL,
  max_samples REAL NOT NULL,
  max_wall    REAL NOT NULL,
  vmin REAL,
  vmax REAL,
  l1   BLOB NOT NULL,
  PRIMARY KEY (run_pk, key_id, seq)
);
CREATE INDEX metric_summaries_epoch ON metric_summaries(run_pk, max_epoch);

CREATE TABLE run_metrics (
  run_pk     INTEGER NOT NULL REFERENCES runs(pk) ON DELETE CASCADE,
  key_id     INTEGER NOT NULL REFERENCES metric_keys(id),
  rows       INTEGER NOT NULL,
  count      INTEGER NOT NULL,
  first_step INTEGER,
  last_step  INTEGER,
  final_value REAL, final_step INTEGER, final_epoch INTEGER, final_epochs_done REAL,
  final_samples INTEGER, final_wall_time REAL,
  min_value REAL, min_step INTEGER, min_epoch INTEGER, min_epochs_done REAL,
  min_samples INTEGER, min_wall_time REAL,
  max_value REAL, max_step INTEGER, max_epoch INTEGER, max_epochs_done REAL,
  max_samples INTEGER, max_wall_time REAL,
  PRIMARY KEY (run_pk, key_id)
) WITHOUT ROWID;

CREATE TABLE metric_slots (i INTEGER PRIMARY KEY);
CREATE TABLE metric_pow2 (e INTEGER PRIMARY KEY, v REAL NOT NULL);
`;

/**
 * metric_values over the chunks, in plain SQL (no extension, no math
 * functions): each chunk is joined with its slot numbers 0..n-1 and every
 * number is decoded from the blob bytes (codec.ts).
 */
function metricValuesView(): string {
  const i = "s.i";
  const step = `(c.first_step + CASE WHEN c.steps IS NULL THEN ${i} ELSE ${sqlUint("c.steps", `4 * ${i}`, 4)} END)`;
  const at = "(v.step - a.first_step)";
  // Epochs and samples are integers in the old table's INTEGER columns: keep them so when whole.
  const whole = (e: string) =>
    `(CASE WHEN ${e} = CAST(${e} AS INTEGER) THEN CAST(${e} AS INTEGER) ELSE ${e} END)`;
  return `
CREATE VIEW metric_values AS
SELECT r.id AS run_id, k.name AS key, v.step AS step,
  CASE WHEN v.x IS NULL THEN a.epoch0 + CASE a.epoch_width WHEN 1 THEN ${sqlUint("a.epochs", at, 1)}
      ELSE ${sqlUint("a.epochs", `2 * ${at}`, 2)} END
    ELSE ${whole(sqlFloat("v.x", "8 * v.i", 8))} END AS epoch,
  CASE WHEN v.x IS NULL THEN ${sqlFloat("a.epochs_done", `8 * ${at}`, 8)}
    ELSE ${sqlFloat("v.x", "8 * (v.n + v.i)", 8)} END AS epochs_done,
  CASE WHEN v.x IS NULL THEN a.samples0 + ${sqlUint("a.samples", `4 * ${at}`, 4)}
    ELSE ${whole(sqlFloat("v.x", "8 * (2 * v.n + v.i)", 8))} END AS samples,
  CASE WHEN v.x IS NULL THEN ${sqlFloat("a.wall_time", `8 * ${at}`, 8)}
    ELSE ${sqlFloat("v.x", "8 * (3 * v.n + v.i)", 8)} END AS wall_time,
  CASE v.width WHEN 4 THEN ${sqlFloat("v.vals", "4 * v.i", 4)} ELSE ${sqlFloat("v.vals", "8 * v.i", 8)} END AS value
FROM (SELECT c.run_pk, c.key_id, c.n, c.x, c.width, c.vals, ${i} AS i, ${step} AS step
      FROM metric_chunks c JOIN metric_slots s ON s.i < c.n) v
JOIN runs r ON r.pk = v.run_pk
JOIN metric_keys k ON k.id = v.key_id
LEFT JOIN metric_axis a ON v.x IS NULL AND a.run_pk = v.run_pk
  AND a.first_step = (SELECT max(first_step) FROM metric_axis WHERE run_pk = v.run_pk AND first_step <= v.step);
`;
}

/** Moves the rows of the version-1 metrics table into chunks, run by run, then drops it. */
function migrateToChunks(db: Db): void {
  db.exec(V4_TABLES);
  const slot = db.prepare("INSERT INTO metric_slots (i) VALUES (?)");
  for (let i = 0; i < 1024; i++) slot.run(i);
  const pow = db.prepare("INSERT INTO metric_pow2 (e, v) VALUES (?, ?)");
  for (let e = -1074; e <= 971; e++) pow.run(e, 2 ** e);
  const runs = db.prepare("SELECT DISTINCT run_pk FROM metrics").pluck().all() as number[];
  // Keys with the most values first: their steps become the axis, the other keys share it.
  const keys = db.prepare(
    "SELECT key_id FROM metrics WHERE run_pk = ? GROUP BY key_id ORDER BY count(*) DESC, key_id",
  );
  const rows = db
    .prepare(
      `SELECT key_id, step, epoch, epochs_done, samples, wall_time, coalesce(value, 'NaN') AS value
       FROM metrics WHERE run_pk = ? AND key_id = ? ORDER BY step`,
    )
    .raw();
  for (const [done, pk] of runs.entries()) {
    testMoment(`migration-4-moving-${done}`);
    for (const key of keys.pluck().all(pk) as number[]) {
      const list = rows.all(pk, key) as number[][];
      const buf = new Float64Array(list.length * ROW_WIDTH);
      for (const [r, row] of list.entries())
        for (let c = 0; c < ROW_WIDTH; c++) buf[r * ROW_WIDTH + c] = Number(row[c]);
      appendRows(db, pk, buf, list.length);
    }
  }
  db.exec("DROP VIEW metric_values; DROP TABLE metrics;");
  db.exec(metricValuesView());
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "runs, metrics, metric_keys, tags, notes, checkpoints; metric_values view",
    up: (db) => db.exec(V1),
  },
  {
    version: 2,
    description:
      "runs.queue_rank: the queue order the user set (NULL: by age, after the ranked runs)",
    up: (db) => db.exec("ALTER TABLE runs ADD COLUMN queue_rank INTEGER"),
  },
  {
    version: 3,
    description:
      "claims and leases (owner_id, owner_started, lease_until, attempt) and the resume point on the run row",
    up: (db) =>
      db.exec(`
ALTER TABLE runs ADD COLUMN owner_id TEXT;
ALTER TABLE runs ADD COLUMN owner_started TEXT;
ALTER TABLE runs ADD COLUMN lease_until INTEGER;
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN resume_checkpoint TEXT;
ALTER TABLE runs ADD COLUMN resume_epoch INTEGER;
UPDATE runs SET
  attempt = CASE WHEN started_at IS NULL THEN 0 ELSE 1 END,
  resume_epoch = (SELECT max(epoch) FROM checkpoints c WHERE c.run_pk = runs.pk),
  resume_checkpoint = (SELECT path FROM checkpoints c WHERE c.run_pk = runs.pk ORDER BY epoch DESC LIMIT 1);
`),
  },
  {
    version: 4,
    description:
      "metrics in chunks: metric_axis, metric_chunks, metric_summaries (multi-resolution), run_metrics (final, lowest, highest per key); metric_values decodes them in SQL",
    up: migrateToChunks,
    reclaims: true,
  },
  {
    // Self-contained: reads and writes nothing of other migrations but the runs table of v1.
    version: 5,
    description:
      "sweeps (spec, state, noise level C) and each run's sweep id, member key and axis values; one run per (sweep, member key)",
    up: (db) =>
      db.exec(`
CREATE TABLE sweeps (
  pk          INTEGER PRIMARY KEY,
  id          TEXT NOT NULL UNIQUE,
  name        TEXT,
  state       TEXT NOT NULL CHECK (state IN ('active','paused','cancelled')),
  spec_json   TEXT NOT NULL CHECK (json_valid(spec_json)),
  noise_json  TEXT CHECK (noise_json IS NULL OR json_valid(noise_json)),
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
ALTER TABLE runs ADD COLUMN sweep_id TEXT;
ALTER TABLE runs ADD COLUMN sweep_member TEXT;
ALTER TABLE runs ADD COLUMN sweep_values_json TEXT CHECK (sweep_values_json IS NULL OR json_valid(sweep_values_json));
CREATE UNIQUE INDEX runs_sweep_member ON runs(sweep_id, sweep_member) WHERE sweep_id IS NOT NULL;
`),
  },
];

export const SCHEMA_VERSION = (MIGRATIONS.at(-1) as Migration).version;

export function schemaVersion(db: Db): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/** Brings the schema up to the newest migration; refuses files from newer builds or other apps. */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): void {
  const latest = migrations.at(-1)?.version ?? 0;
  const appId = db.pragma("application_id", { simple: true }) as number;
  const check = (version: number) => {
    if (appId !== 0 && appId !== APPLICATION_ID) {
      throw new StoreError(
        "not-a-library",
        `${db.name} is an SQLite file of another application (application_id ${appId}), not an SGD Studio library`,
      );
    }
    if (version > latest) {
      throw new StoreError(
        "newer-schema",
        `the library ${db.name} has schema version ${version}, newer than this build reads (${latest}): update SGD Studio`,
      );
    }
  };
  check(schemaVersion(db));
  // Only an existing library has data a migration can drop (a new one starts at 0).
  const existing = schemaVersion(db) > 0;
  for (const m of migrations) {
    if (m.version <= schemaVersion(db)) continue;
    db.transaction(() => {
      // Another process may have migrated between our read and this lock.
      const current = schemaVersion(db);
      check(current);
      if (m.version <= current) return;
      if (current === 0) {
        const tables = db
          .prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'")
          .get() as { n: number };
        if (tables.n > 0) {
          throw new StoreError(
            "not-a-library",
            `${db.name} already holds tables but is not an SGD Studio library`,
          );
        }
      }
      m.up(db);
      // Committed with the migration, dropped once the compaction ran: a crash in between (or
      // before the compaction's VACUUM committed) leaves it, and the next open compacts.
      if (m.reclaims && existing) db.exec(`CREATE TABLE IF NOT EXISTS ${COMPACTION_OWED} (x)`);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${m.version}`);
      testMoment(`migration-${m.version}-written`);
    }).immediate();
    testMoment(`migration-${m.version}-committed`);
  }
  if (compactionOwed(db)) compactAfterMigration(db);
}

/**
 * The table that says a migration dropped most of the file and the compaction after it has not
 * run yet (docs/storage.md). It exists only between the two, or after a crash between them.
 */
const COMPACTION_OWED = "compaction_owed";

function compactionOwed(db: Db): boolean {
  return (
    db
      .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?")
      .get(COMPACTION_OWED) !== undefined
  );
}

/** Share of the file in free pages above which a migration that dropped data compacts it. */
const COMPACT_FREE_SHARE = 0.2;

/**
 * After a migration that dropped most of the file (version 4 moved every value into chunks ~4x
 * smaller and dropped the old table), SQLite keeps the freed pages in the file: a 4.7 GB library
 * stayed 4.7 GB. VACUUM rewrites it at its new size, once, while the user already waits for the
 * migration. It is best effort: when it cannot run (another process reading the library, a full
 * disk), SQLite leaves the file as it was, every value in place, and the space stays free pages
 * that later writes reuse. A crash before the VACUUM committed leaves the compaction owed (the
 * compaction_owed table): the next open runs it; a crash after it leaves a file SQLite completes
 * from its log.
 */
export function compactAfterMigration(db: Db): boolean {
  const pages = db.pragma("page_count", { simple: true }) as number;
  const free = db.pragma("freelist_count", { simple: true }) as number;
  let compacted = false;
  if (pages > 0 && free / pages > COMPACT_FREE_SHARE) {
    try {
      testMoment("compact-vacuum");
      db.exec("VACUUM");
      compacted = true;
    } catch {
      // Best effort (above): tried once, not at every open.
    }
  }
  try {
    db.exec(`DROP TABLE IF EXISTS ${COMPACTION_OWED}`);
    if (!compacted) return false;
    testMoment("compact-checkpoint");
    // In WAL mode VACUUM writes the new file through the log: fold it in so the file shrinks now.
    db.pragma("wal_checkpoint(TRUNCATE)");
    testMoment("compact-done");
    return true;
  } catch {
    return compacted;
  }
}

/**
 * Tests only (docs/environment.md): with SGD_STUDIO_TEST_MIGRATION_MOMENTS set, each step of a
 * migration and of the compaction after it is announced on stderr (`sgd-studio-test: <moment>`),
 * and the process stops itself (SIGSTOP) at the moment the variable names, so a fault test can
 * SIGKILL it exactly there, or let it go on (SIGCONT) (migrate-kill.test.ts). Unset: nothing.
 */
function testMoment(moment: string): void {
  const stopAt = process.env.SGD_STUDIO_TEST_MIGRATION_MOMENTS;
  if (stopAt === undefined) return;
  // Synchronous on a pipe or a file: the line is out before the process stops.
  process.stderr.write(`sgd-studio-test: ${moment}\n`);
  if (stopAt === moment) process.kill(process.pid, "SIGSTOP");
}

export interface OpenOptions {
  migrations?: readonly Migration[];
  /** How long opening (and migrating) waits for another writer's lock (ms, default 10 s). */
  busyTimeoutMs?: number;
  /**
   * How long each later statement waits for another writer's lock before
   * failing with SQLITE_BUSY (ms; default: busyTimeoutMs). Hosts set it short
   * and retry off the event loop (recorder.ts), so a locked library never
   * freezes them.
   */
  lockWaitMs?: number;
}

/** What a failed open means for the user, and what to do about it. */
function openFailure(file: string, err: Error): StoreError {
  const code = (err as { code?: string }).code ?? "";
  const text = err.message;
  if (code.startsWith("SQLITE_READONLY") || /readonly|read-only/i.test(text))
    return new StoreError(
      "read-only",
      `the library ${file} is read-only (${text}): make the file and its folder writable, or use another library with --home <dir> (or SGD_STUDIO_HOME)`,
    );
  if (["SQLITE_CANTOPEN", "EACCES", "EROFS", "EPERM", "ENOTDIR", "EEXIST", "ENOENT"].includes(code))
    return new StoreError(
      "open",
      `cannot open the library ${file} (${text}): check that its folder exists, is a folder and is writable, or use another library with --home <dir>`,
    );
  if (
    code.startsWith("SQLITE_CORRUPT") ||
    code === "SQLITE_NOTADB" ||
    /not a database|malformed/i.test(text)
  )
    return new StoreError(
      "corrupt",
      `the library ${file} is damaged (${text}): move it aside and SGD Studio starts a new one; \`sqlite3 ${file} .recover\` may rescue its runs (then import them)`,
    );
  if (code.startsWith("SQLITE_BUSY") || /database is locked/i.test(text))
    return new StoreError(
      "busy",
      `the library ${file} is locked by another process (${text}): wait for it and try again`,
    );
  return new StoreError("open", `cannot open the library ${file}: ${text}`);
}

/**
 * A failure of the library file itself found after it opened (SQLite reports
 * some damage only when a statement reaches the damaged page, and a file can
 * become read-only while a host runs): the same one-line message as at open,
 * naming the file and the fix. Null for every other error.
 */
export function fileFailure(file: string, err: unknown): StoreError | null {
  if (err instanceof StoreError || !(err instanceof Error)) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string" || !/^SQLITE_(CORRUPT|NOTADB|READONLY|CANTOPEN)/.test(code))
    return null;
  return openFailure(file, err);
}

/**
 * An existing library whose file or folder this process may not write: refused
 * at open, rather than failing at the first write (a run that cannot be
 * recorded, a verdict that cannot be saved). SQLite itself would open such a
 * file read-only without a word.
 */
function checkWritable(file: string): void {
  if (!existsSync(file)) return;
  for (const path of [file, dirname(file)]) {
    try {
      accessSync(path, constants.W_OK);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw openFailure(
        file,
        Object.assign(
          new Error(
            `${e.code === "EROFS" ? "read-only file system" : "no write permission"}: ${path}`,
          ),
          { code: "SQLITE_READONLY" },
        ),
      );
    }
  }
}

/**
 * Opens (creating if needed) a library database: WAL journal, synchronous =
 * NORMAL (a committed transaction survives a process crash; a power cut can
 * lose the last few, never corrupt the file), foreign keys on.
 */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  let db: Db;
  try {
    mkdirSync(dirname(file), { recursive: true });
    checkWritable(file);
    db = new Database(file, { timeout: options.busyTimeoutMs ?? 10_000 });
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw openFailure(file, err as Error);
  }
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db, options.migrations);
    if (options.lockWaitMs !== undefined)
      db.pragma(`busy_timeout = ${Math.max(0, Math.round(options.lockWaitMs))}`);
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw openFailure(file, err as Error);
  }
  return db;
}
