/**
 * Libraries as versions 1 to 3 of SGD Studio wrote them (one row per value in the `metrics`
 * table), for the tests of the version-4 migration (migrate-v4.test.ts) and of a crash during it
 * (migrate-kill.test.ts, migrate-child.ts).
 */
import { Rng } from "../data/rng.js";
import { libraryPaths } from "./paths.js";
import { type Db, MIGRATIONS, openDatabase } from "./schema.js";
import { RUN_STATUSES } from "./states.js";

/**
 * Rows as the version-1 to 3 recorder wrote them (INSERT OR REPLACE INTO metrics): step keys at
 * every step (float32 losses, float64 learning rates, integer batch sizes, a missing value),
 * epoch keys at the epoch's last step with their own epochs done and wall time, a key at every
 * fifth step, and a value written twice (the second wins).
 */
export function oldRows(db: Db, pk: number, seed: number, epochs: number): void {
  const ids = new Map<string, number>();
  const key = (name: string) => {
    let id = ids.get(name);
    if (id === undefined) {
      db.prepare("INSERT OR IGNORE INTO metric_keys (name) VALUES (?)").run(name);
      id = (db.prepare("SELECT id FROM metric_keys WHERE name = ?").get(name) as { id: number }).id;
      ids.set(name, id);
    }
    return id;
  };
  const insert = db.prepare(
    `INSERT OR REPLACE INTO metrics (run_pk, key_id, step, epoch, epochs_done, samples, wall_time, value)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const random = Rng.from(seed);
  const perEpoch = 37;
  let samples = 0;
  let wall = 0;
  for (let e = 0; e < epochs; e++) {
    for (let i = 0; i < perEpoch; i++) {
      const step = e * perEpoch + i;
      samples += 32;
      wall += 0.01 + random.uniform() * 0.01;
      const x = [step, e, e + (i + 1) / perEpoch, samples, wall] as const;
      insert.run(pk, key("loss"), ...x, step === 40 ? null : Math.fround(2 * random.uniform()));
      insert.run(pk, key("lr"), ...x, 0.1 * Math.cos(step / 100));
      insert.run(pk, key("batchSize"), ...x, 32);
      if (step % 5 === 0) insert.run(pk, key("gradNorm"), ...x, random.uniform() * 3);
    }
    const last = (e + 1) * perEpoch - 1;
    const x = [last, e, e + 1, samples, wall + 0.5] as const;
    insert.run(pk, key("testAccuracy"), ...x, 0.5 + e * 0.1 + random.uniform() * 0.01);
    insert.run(pk, key("testLoss"), ...x, e === 1 ? null : random.uniform());
  }
  // The same step again: replaced, as INSERT OR REPLACE did.
  insert.run(pk, key("lr"), 3, 0, 4 / perEpoch, 128, 0.04, 42);
}

/** What the old export read for a run: its rows by key name, then step (transfer.ts before v4). */
export function oldExport(db: Db, pk: number) {
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

export interface OldLibraryOptions {
  /** The schema version to write (2 or 3). */
  version: number;
  /** Epochs of metric rows of a completed run (other runs with rows get half, at least 2). */
  epochs?: number;
  /** Runs of every status, this many times (the first set is named run-<status>). */
  sets?: number;
}

/**
 * Writes a version-2 or version-3 library in `home` holding runs of every status (queued runs
 * without rows, the others with oldRows), checkpointed and closed. Returns the runs' pks in order.
 */
export function writeOldLibrary(home: string, options: OldLibraryOptions): number[] {
  const { version, epochs = 4, sets = 1 } = options;
  const old = openDatabase(libraryPaths(home).db, { migrations: MIGRATIONS.slice(0, version) });
  const insert = old.prepare(
    `INSERT INTO runs (id, status, spec_json, model, dataset, optimizer, seed, created_at, updated_at,
       started_at, finished_at, owner_host, owner_pid, error_code, error_message, final_test_accuracy)
     VALUES (@id, @status, '{"dataset":"default","model":"mlp","seed":1}', 'mlp', 'default', 'sgd', 1,
       '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', @started, @finished, @host, @pid, @code, @message, @acc)`,
  );
  const pks: number[] = [];
  old.transaction(() => {
    for (let set = 0; set < sets; set++) {
      for (const [i, status] of RUN_STATUSES.entries()) {
        const active = status === "running" || status === "paused";
        const info = insert.run({
          id: set === 0 ? `run-${status}` : `run-${status}-${set}`,
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
        const runEpochs = status === "completed" ? epochs : Math.max(2, Math.floor(epochs / 2));
        if (status !== "queued") oldRows(old, pk, set * 100 + i + 1, runEpochs);
      }
    }
  })();
  old.pragma("wal_checkpoint(TRUNCATE)");
  old.close();
  return pks;
}
