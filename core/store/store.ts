/**
 * The run library: one SQLite file (better-sqlite3, synchronous, WAL) holding
 * every run's spec, environment, status, metrics, tags, notes and checkpoint
 * records. Checkpoint files live beside it under runs/<id>/checkpoints.
 *
 * RunStore is the small API hosts (CLI, the future service) call. Metrics
 * are written by a RunRecorder (recorder.ts) in batched transactions; the
 * comparison queries are in queries.ts, export and import in transfer.ts.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { latestCheckpoint } from "../engine/checkpoint.js";
import { type TrainSpec, type TrainSpecInput, TrainSpecSchema } from "../engine/events.js";
import { collectEnvironment, type Environment } from "./environment.js";
import { StoreError } from "./errors.js";
import { isInside, isValidRunId, type LibraryPaths, libraryPaths, runDir } from "./paths.js";
import {
  type BestAndFinal,
  bestAndFinal,
  type MetricKeyInfo,
  type MetricSeries,
  type MetricsQuery,
  metricKeys,
  queryMetrics,
} from "./queries.js";
import { type RecorderOptions, RunRecorder } from "./recorder.js";
import { type Db, nowIso, type OpenOptions, openDatabase } from "./schema.js";
import { ACTIVE, assertTransition, isRunStatus, type RunStatus } from "./states.js";
import {
  type ExportDocument,
  type ExportFormat,
  exportDocument,
  exportToFile,
  type ImportOptions,
  type ImportResult,
  importDocument,
} from "./transfer.js";

export interface RunError {
  code: string;
  message: string;
  step: number | null;
  epoch: number | null;
}

export interface RunRecord {
  id: string;
  status: RunStatus;
  /** The training spec as validated (defaults filled in), without checkpointDir. */
  spec: Omit<TrainSpec, "checkpointDir">;
  scheduleName: string | null;
  model: string;
  dataset: string;
  optimizer: string;
  seed: number;
  /** Requested backend until training starts, then the one actually used. */
  backend: string | null;
  environment: Environment;
  error: RunError | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  plannedEpochs: number | null;
  plannedSteps: number | null;
  /** Last completed epoch (0-based) and last recorded step. */
  lastEpoch: number | null;
  lastStep: number | null;
  samples: number | null;
  wallTime: number | null;
  final: {
    trainLoss: number | null;
    trainAccuracy: number | null;
    testLoss: number | null;
    testAccuracy: number | null;
  };
  best: { testAccuracy: number | null; epoch: number | null };
  /** Absolute folder of the run's checkpoints, if it has one. */
  checkpointDir: string | null;
  tags: string[];
  note: string | null;
}

export interface RunFilter {
  status?: RunStatus | RunStatus[];
  tag?: string;
  model?: string;
  dataset?: string;
  /** Newest first (default) or oldest first. */
  order?: "newest" | "oldest";
  limit?: number;
  offset?: number;
}

export interface CreateRunOptions {
  /** Where checkpoints go; default runs/<id>/checkpoints in the library. */
  checkpointDir?: string;
  /** Use this id (import, tests); default: a new one. */
  id?: string;
}

export interface CheckpointRecord {
  epoch: number;
  step: number | null;
  path: string;
  createdAt: string;
  exists: boolean;
}

export interface StoreOpenOptions extends OpenOptions {
  /** Mark runs whose recording process is gone as interrupted (default true). */
  recover?: boolean;
}

export interface RecoverOptions {
  /** Whether a process is alive (default: signal 0). */
  isAlive?: (pid: number) => boolean;
  /** A run whose recorder has not written for this long is interrupted even if its pid is alive. */
  staleMs?: number;
  now?: number;
}

interface RunRow {
  pk: number;
  id: string;
  status: string;
  spec_json: string;
  schedule_name: string | null;
  model: string;
  dataset: string;
  optimizer: string;
  seed: number;
  backend: string | null;
  environment_json: string;
  error_code: string | null;
  error_message: string | null;
  error_step: number | null;
  error_epoch: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  planned_epochs: number | null;
  planned_steps: number | null;
  last_epoch: number | null;
  last_step: number | null;
  samples: number | null;
  wall_time: number | null;
  final_train_loss: number | null;
  final_train_accuracy: number | null;
  final_test_loss: number | null;
  final_test_accuracy: number | null;
  best_test_accuracy: number | null;
  best_epoch: number | null;
  checkpoint_dir: string | null;
  owner_host: string | null;
  owner_pid: number | null;
  tags_json?: string;
  note?: string | null;
}

const RUN_COLUMNS = `r.*, (SELECT json_group_array(tag) FROM (SELECT tag FROM tags WHERE run_pk = r.pk ORDER BY tag)) AS tags_json,
  (SELECT body FROM notes WHERE run_pk = r.pk) AS note`;

/** A new run id: UTC date and time, then 6 random hex digits (sortable, unique enough to merge libraries). */
export function newRunId(date = new Date()): string {
  const iso = date.toISOString();
  const stamp = `${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}`;
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class RunStore {
  readonly paths: LibraryPaths;
  private readonly keyIds = new Map<string, number>();

  private constructor(
    readonly db: Db,
    paths: LibraryPaths,
  ) {
    this.paths = paths;
  }

  /** Opens (creating if needed) the library in `home`; by default recovers interrupted runs. */
  static open(home: string, options: StoreOpenOptions = {}): RunStore {
    const paths = libraryPaths(home);
    const store = new RunStore(openDatabase(paths.db, options), paths);
    if (options.recover !== false) store.recoverInterrupted();
    return store;
  }

  get home(): string {
    return this.paths.home;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- runs -------------------------------------------------------------

  createRun(
    specInput: TrainSpecInput,
    environment: Environment = collectEnvironment(),
    options: CreateRunOptions = {},
  ): RunRecord {
    const parsed = TrainSpecSchema.safeParse(specInput);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new StoreError(
        "invalid",
        `invalid training spec: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`,
      );
    }
    const { checkpointDir: specDir, ...spec } = parsed.data;
    let id = options.id ?? newRunId();
    if (options.id !== undefined && !isValidRunId(options.id))
      throw new StoreError("invalid", `invalid run id ${JSON.stringify(options.id)}`);
    if (options.id === undefined) while (this.findExact(id)) id = newRunId();
    else if (this.findExact(id))
      throw new StoreError("duplicate", `a run with id ${id} is already in the library`);
    const dir = options.checkpointDir ?? specDir ?? join(runDir(this.paths, id), "checkpoints");
    const schedule = spec.schedule as { name?: unknown } | undefined;
    const at = nowIso();
    this.db
      .prepare(
        `INSERT INTO runs (id, status, spec_json, schedule_json, schedule_name, model, dataset, optimizer,
           seed, backend, environment_json, created_at, updated_at, checkpoint_dir)
         VALUES (@id, 'queued', @spec, @schedule, @scheduleName, @model, @dataset, @optimizer,
           @seed, @backend, @env, @at, @at, @dir)`,
      )
      .run({
        id,
        spec: JSON.stringify(spec),
        schedule: spec.schedule === undefined ? null : JSON.stringify(spec.schedule),
        scheduleName: typeof schedule?.name === "string" ? schedule.name : null,
        model: spec.model,
        dataset: spec.dataset,
        optimizer: spec.optimizer.kind,
        seed: spec.seed,
        backend: spec.backend ?? null,
        env: JSON.stringify(environment),
        at,
        dir: this.storePath(dir),
      });
    return this.getRun(id);
  }

  /** The run with this id, or with a unique id containing this text (4+ characters); else throws. */
  getRun(idOrPart: string): RunRecord {
    const row = this.row(this.resolveId(idOrPart));
    if (!row) throw new StoreError("not-found", `no run ${idOrPart} in the library ${this.home}`);
    return this.toRecord(row);
  }

  /** Like getRun, but null when there is no such run (still throws when ambiguous). */
  findRun(idOrPart: string): RunRecord | null {
    try {
      return this.getRun(idOrPart);
    } catch (err) {
      if (err instanceof StoreError && err.code === "not-found") return null;
      throw err;
    }
  }

  /** Full id for an id or a unique part of one (at least 4 characters). */
  resolveId(idOrPart: string): string {
    if (this.findExact(idOrPart)) return idOrPart;
    if (idOrPart.length >= 4) {
      const rows = this.db
        .prepare("SELECT id FROM runs WHERE instr(id, ?) > 0 ORDER BY created_at LIMIT 6")
        .all(idOrPart) as { id: string }[];
      if (rows.length === 1) return (rows[0] as { id: string }).id;
      if (rows.length > 1) {
        throw new StoreError(
          "ambiguous-id",
          `"${idOrPart}" matches several runs (${rows.map((r) => r.id).join(", ")}${rows.length > 5 ? ", ..." : ""}); give more of the id`,
        );
      }
    }
    throw new StoreError("not-found", `no run ${idOrPart} in the library ${this.home}`);
  }

  listRuns(filter: RunFilter = {}): RunRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status !== undefined) {
      const list = Array.isArray(filter.status) ? filter.status : [filter.status];
      where.push(`r.status IN (${list.map(() => "?").join(",")})`);
      params.push(...list);
    }
    if (filter.tag !== undefined) {
      where.push("EXISTS (SELECT 1 FROM tags t WHERE t.run_pk = r.pk AND t.tag = ?)");
      params.push(filter.tag);
    }
    if (filter.model !== undefined) {
      where.push("r.model = ?");
      params.push(filter.model);
    }
    if (filter.dataset !== undefined) {
      where.push("r.dataset = ?");
      params.push(filter.dataset);
    }
    const order = filter.order === "oldest" ? "ASC" : "DESC";
    const sql = `SELECT ${RUN_COLUMNS} FROM runs r ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY r.created_at ${order}, r.pk ${order} LIMIT ? OFFSET ?`;
    params.push(filter.limit ?? -1, filter.offset ?? 0);
    return (this.db.prepare(sql).all(...params) as RunRow[]).map((r) => this.toRecord(r));
  }

  /**
   * Moves a run to another state; throws StoreError("illegal-transition") for a
   * move the transition table (states.ts) does not allow. `failed` takes the error.
   */
  /**
   * The queued runs in the order they will train: the ranked ones (the order
   * the user set with setQueueOrder) first, then the others oldest first.
   */
  queuedRunIds(): string[] {
    const rows = this.db
      .prepare(
        `SELECT id FROM runs WHERE status = 'queued'
         ORDER BY queue_rank IS NULL, queue_rank, created_at, pk`,
      )
      .all() as { id: string }[];
    return rows.map((r) => r.id);
  }

  /**
   * Ranks queued runs in the given order (the user's reordering), replacing
   * any earlier ranking; ids that are not queued are refused. A run's rank is
   * dropped when it leaves the queue (setStatus).
   */
  setQueueOrder(ids: readonly string[]): void {
    this.db
      .transaction(() => {
        const pks = ids.map((id) => {
          const row = this.row(id);
          if (!row) throw new StoreError("not-found", `no run ${id} in the library ${this.home}`);
          if (row.status !== "queued") {
            throw new StoreError("invalid", `run ${id} is ${row.status}, not queued`);
          }
          return row.pk;
        });
        this.db.prepare("UPDATE runs SET queue_rank = NULL WHERE queue_rank IS NOT NULL").run();
        const rank = this.db.prepare("UPDATE runs SET queue_rank = ? WHERE pk = ?");
        for (const [i, pk] of pks.entries()) rank.run(i, pk);
      })
      .immediate();
  }

  setStatus(id: string, status: RunStatus, options: { error?: Partial<RunError> } = {}): void {
    this.db
      .transaction(() => {
        const row = this.row(id);
        if (!row) throw new StoreError("not-found", `no run ${id} in the library ${this.home}`);
        const from = row.status as RunStatus;
        assertTransition(id, from, status);
        if (from === status) return;
        const at = nowIso();
        const active = ACTIVE.includes(status);
        const finished = status !== "queued" && !active;
        const error =
          status === "failed"
            ? {
                code: options.error?.code ?? "internal",
                message: options.error?.message ?? "failed",
                step: options.error?.step ?? null,
                epoch: options.error?.epoch ?? null,
              }
            : null;
        this.db
          .prepare(
            `UPDATE runs SET status = @status, updated_at = @at,
               queue_rank = CASE WHEN @status = 'queued' THEN queue_rank ELSE NULL END,
               started_at = CASE WHEN @status = 'running' THEN coalesce(started_at, @at) ELSE started_at END,
               finished_at = CASE WHEN @finished THEN @at ELSE NULL END,
               owner_host = CASE WHEN @active THEN @host ELSE NULL END,
               owner_pid = CASE WHEN @active THEN @pid ELSE NULL END,
               error_code = @code, error_message = @message, error_step = @step, error_epoch = @epoch
             WHERE pk = @pk`,
          )
          .run({
            status,
            at,
            finished: finished ? 1 : 0,
            active: active ? 1 : 0,
            host: hostname(),
            pid: process.pid,
            code: error?.code ?? null,
            message: error?.message ?? null,
            step: error?.step ?? null,
            epoch: error?.epoch ?? null,
            pk: row.pk,
          });
      })
      .immediate();
  }

  /**
   * Runs left `running` or `paused` by a process that is gone (crash, kill,
   * power cut) become `interrupted`; they can be resumed from their last
   * checkpoint. A run is left alone while its recording process is alive on
   * this machine and has written within `staleMs` (default 10 minutes).
   * Returns the ids it changed.
   */
  recoverInterrupted(options: RecoverOptions = {}): string[] {
    const isAlive = options.isAlive ?? defaultIsAlive;
    const staleMs = options.staleMs ?? 10 * 60_000;
    const now = options.now ?? Date.now();
    const here = hostname();
    const changed: string[] = [];
    const rows = this.db
      .prepare(
        "SELECT id, owner_host, owner_pid, updated_at FROM runs WHERE status IN ('running','paused')",
      )
      .all() as Pick<RunRow, "id" | "owner_host" | "owner_pid" | "updated_at">[];
    for (const r of rows) {
      const fresh = now - Date.parse(r.updated_at) < staleMs;
      const alive =
        r.owner_host === here && r.owner_pid !== null && r.owner_pid > 0 && isAlive(r.owner_pid);
      // Another machine's process (a shared folder) cannot be checked: only staleness counts.
      if (fresh && (alive || (r.owner_host !== null && r.owner_host !== here))) continue;
      const current = this.row(r.id);
      if (current && ACTIVE.includes(current.status as RunStatus)) {
        this.setStatus(r.id, "interrupted");
        changed.push(r.id);
      }
    }
    return changed;
  }

  /** The newest checkpoint of a run that still exists on disk, or null. */
  resumePoint(id: string): { path: string; epoch: number } | null {
    for (const c of this.checkpoints(id).reverse()) {
      if (c.exists) return { path: c.path, epoch: c.epoch };
    }
    const dir = this.getRun(id).checkpointDir;
    const latest = dir ? latestCheckpoint(dir) : null;
    if (!latest) return null;
    try {
      const manifest = JSON.parse(readFileSync(join(latest, "manifest.json"), "utf8"));
      return { path: latest, epoch: Number(manifest.epoch) };
    } catch {
      return null;
    }
  }

  checkpoints(id: string): CheckpointRecord[] {
    const rows = this.db
      .prepare(
        "SELECT epoch, step, path, created_at FROM checkpoints WHERE run_pk = ? ORDER BY epoch",
      )
      .all(this.pk(id)) as {
      epoch: number;
      step: number | null;
      path: string;
      created_at: string;
    }[];
    return rows.map((r) => {
      const path = this.absolutePath(r.path);
      return {
        epoch: r.epoch,
        step: r.step,
        path,
        createdAt: r.created_at,
        exists: existsSync(join(path, "manifest.json")),
      };
    });
  }

  // ---- tags and notes ---------------------------------------------------

  tag(id: string, tag: string): void {
    const t = checkTag(tag);
    this.db
      .prepare("INSERT OR IGNORE INTO tags (run_pk, tag, created_at) VALUES (?, ?, ?)")
      .run(this.pk(id), t, nowIso());
  }

  untag(id: string, tag: string): boolean {
    return (
      this.db.prepare("DELETE FROM tags WHERE run_pk = ? AND tag = ?").run(this.pk(id), tag)
        .changes > 0
    );
  }

  /** Sets the run's note; null or "" removes it. */
  setNote(id: string, body: string | null): void {
    const pk = this.pk(id);
    if (!body) this.db.prepare("DELETE FROM notes WHERE run_pk = ?").run(pk);
    else
      this.db
        .prepare(
          `INSERT INTO notes (run_pk, body, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (run_pk) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
        )
        .run(pk, body, nowIso());
  }

  // ---- delete -----------------------------------------------------------

  /**
   * Deletes a run, its metrics, tags, note and checkpoints. Files: the run's
   * folder in the library goes; checkpoints it wrote to a folder outside the
   * library (--checkpoint-dir) are removed one by one (epoch-NNNN folders and
   * their latest.json), never anything else there. Refuses a run that is training.
   */
  deleteRun(id: string): { id: string; removed: string[] } {
    const run = this.getRun(id);
    if (ACTIVE.includes(run.status)) {
      throw new StoreError(
        "illegal-transition",
        `run ${run.id} is ${run.status}; stop it before deleting it`,
      );
    }
    const checkpoints = this.checkpoints(run.id);
    this.db.prepare("DELETE FROM runs WHERE id = ?").run(run.id);
    const removed: string[] = [];
    const own = runDir(this.paths, run.id);
    if (existsSync(own)) {
      rmSync(own, { recursive: true, force: true });
      removed.push(own);
    }
    const outside = checkpoints.filter(
      (c) => !isInside(this.home, c.path) && /^epoch-\d+$/.test(basename(c.path)),
    );
    const shared = this.db.prepare("SELECT 1 FROM checkpoints WHERE path = ? LIMIT 1");
    for (const c of outside) {
      // Another run that wrote to the same folder may own this checkpoint now.
      if (!existsSync(join(c.path, "manifest.json")) || shared.get(this.storePath(c.path)))
        continue;
      rmSync(c.path, { recursive: true, force: true });
      removed.push(c.path);
    }
    const dirs = new Set(outside.map((c) => dirname(c.path)));
    if (run.checkpointDir && !isInside(this.home, run.checkpointDir)) dirs.add(run.checkpointDir);
    for (const dir of dirs) removeEmptyCheckpointDir(dir, removed);
    return { id: run.id, removed };
  }

  // ---- metrics ----------------------------------------------------------

  /** A recorder that turns a run's training events into rows (see recorder.ts). */
  recorder(id: string, options: RecorderOptions = {}): RunRecorder {
    return new RunRecorder(this, this.resolveId(id), options);
  }

  queryMetrics(query: MetricsQuery): MetricSeries[] {
    return queryMetrics(this, query);
  }

  bestAndFinal(id: string, key: string, mode?: "min" | "max"): BestAndFinal {
    return bestAndFinal(this, this.resolveId(id), key, mode);
  }

  metricKeys(id: string): MetricKeyInfo[] {
    return metricKeys(this, this.resolveId(id));
  }

  // ---- export / import --------------------------------------------------

  exportRuns(ids: string[]): ExportDocument {
    return exportDocument(
      this,
      ids.map((id) => this.resolveId(id)),
    );
  }

  /** Writes runs to a file (JSON document or CSV of every scalar); returns rows written. */
  exportRunsToFile(
    ids: string[],
    format: ExportFormat,
    out: string,
  ): { runs: number; rows: number } {
    return exportToFile(
      this,
      ids.map((id) => this.resolveId(id)),
      format,
      out,
    );
  }

  /** Imports an export document (text or parsed); all or nothing. */
  importRuns(input: string | unknown, options: ImportOptions = {}): ImportResult {
    return importDocument(this, input, options);
  }

  // ---- internals shared with recorder, queries and transfer ---------------

  /** Primary key of a run by exact id. */
  pk(id: string): number {
    const row = this.db.prepare("SELECT pk FROM runs WHERE id = ?").get(id) as
      | { pk: number }
      | undefined;
    if (!row) throw new StoreError("not-found", `no run ${id} in the library ${this.home}`);
    return row.pk;
  }

  /** Id of a metric key, created on first use. */
  keyId(name: string): number {
    const cached = this.keyIds.get(name);
    if (cached !== undefined) return cached;
    this.db.prepare("INSERT OR IGNORE INTO metric_keys (name) VALUES (?)").run(name);
    const row = this.db.prepare("SELECT id FROM metric_keys WHERE name = ?").get(name) as {
      id: number;
    };
    this.keyIds.set(name, row.id);
    return row.id;
  }

  /** Id of an existing metric key, or undefined. */
  existingKeyId(name: string): number | undefined {
    const cached = this.keyIds.get(name);
    if (cached !== undefined) return cached;
    const row = this.db.prepare("SELECT id FROM metric_keys WHERE name = ?").get(name) as
      | { id: number }
      | undefined;
    if (row) this.keyIds.set(name, row.id);
    return row?.id;
  }

  /** Paths inside the library are stored relative to it, so the folder can move. */
  storePath(path: string): string {
    const abs = resolve(path);
    return isInside(this.home, abs) ? relative(this.home, abs) || "." : abs;
  }

  absolutePath(stored: string): string {
    return isAbsolute(stored) ? stored : resolve(this.home, stored);
  }

  rawRow(id: string): RunRow | undefined {
    return this.row(id);
  }

  toRecord(row: RunRow): RunRecord {
    const status = isRunStatus(row.status) ? row.status : "failed";
    return {
      id: row.id,
      status,
      spec: JSON.parse(row.spec_json),
      scheduleName: row.schedule_name,
      model: row.model,
      dataset: row.dataset,
      optimizer: row.optimizer,
      seed: row.seed,
      backend: row.backend,
      environment: JSON.parse(row.environment_json),
      error:
        row.error_code !== null || row.error_message !== null
          ? {
              code: row.error_code ?? "internal",
              message: row.error_message ?? "",
              step: row.error_step,
              epoch: row.error_epoch,
            }
          : null,
      createdAt: row.created_at,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      updatedAt: row.updated_at,
      plannedEpochs: row.planned_epochs,
      plannedSteps: row.planned_steps,
      lastEpoch: row.last_epoch,
      lastStep: row.last_step,
      samples: row.samples,
      wallTime: row.wall_time,
      final: {
        trainLoss: row.final_train_loss,
        trainAccuracy: row.final_train_accuracy,
        testLoss: row.final_test_loss,
        testAccuracy: row.final_test_accuracy,
      },
      best: { testAccuracy: row.best_test_accuracy, epoch: row.best_epoch },
      checkpointDir: row.checkpoint_dir === null ? null : this.absolutePath(row.checkpoint_dir),
      tags: row.tags_json ? (JSON.parse(row.tags_json) as string[]) : [],
      note: row.note ?? null,
    };
  }

  private row(id: string): RunRow | undefined {
    return this.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs r WHERE r.id = ?`).get(id) as
      | RunRow
      | undefined;
  }

  private findExact(id: string): boolean {
    return this.db.prepare("SELECT 1 FROM runs WHERE id = ?").get(id) !== undefined;
  }
}

export type { RunRow };

function checkTag(tag: string): string {
  const t = tag.trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (!t || t.length > 64 || /[\u0000-\u001f\u007f]/.test(t)) {
    throw new StoreError(
      "invalid",
      `a tag must be 1-64 printable characters (got ${JSON.stringify(tag)})`,
    );
  }
  return t;
}

/** Removes latest.json if it points at a checkpoint that is gone, then the folder if empty. */
function removeEmptyCheckpointDir(dir: string, removed: string[]): void {
  const pointer = join(dir, "latest.json");
  if (existsSync(pointer) && latestCheckpoint(dir) === null) {
    rmSync(pointer, { force: true });
    removed.push(pointer);
  }
  try {
    if (readdirSync(dir).length === 0) {
      rmdirSync(dir);
      removed.push(dir);
    }
  } catch {}
}
