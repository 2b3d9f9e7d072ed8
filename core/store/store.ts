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
import { existsSync, rmSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { CheckpointRecord, RunError, RunRecord, SweepLink } from "../api/records.js";
import { type TrainSpecInput, TrainSpecSchema } from "../api/spec.js";
import { collectEnvironment, type Environment } from "./environment.js";
import { StoreError } from "./errors.js";
import { currentOwner, type Liveness, type Owner, ownerLiveness } from "./owner.js";
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
import { type Db, fileFailure, nowIso, type OpenOptions, openDatabase } from "./schema.js";
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

/** The run records are declared in core/api/records.ts (the service returns them as they are). */
export type { CheckpointRecord, RunError, RunRecord };

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
  /** Use this id (import, tests); default: a new one. */
  id?: string;
  /** Claim the new run for this owner at once (status running), so no other host can take it. */
  claim?: { owner: Owner; leaseMs: number };
  /** A checkpoint outside the library the first attempt starts from (`train --resume <folder>`). */
  startFrom?: string;
  /** The sweep this run is a member of (core/store/sweeps.ts); one run per (sweep, member key). */
  sweep?: SweepLink;
}

/** Which queued runs a host may claim (a `sweep run` host trains its sweep's members only). */
export interface ClaimFilter {
  sweepId?: string;
}

export interface StoreOpenOptions extends OpenOptions {
  /** Mark runs whose recording process is gone as interrupted (default true). */
  recover?: boolean;
}

export interface RecoverOptions {
  /** Whether the owner of a run is alive (default: ownerLiveness, /proc on Linux). */
  liveness?: (owner: {
    host: string | null;
    pid: number | null;
    started: string | null;
  }) => Liveness;
  /** Milliseconds clock (default Date.now). */
  now?: number;
  /** Runs claimed before leases existed (no lease_until): stale after this long without a write. */
  staleMs?: number;
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
  owner_id: string | null;
  owner_started: string | null;
  lease_until: number | null;
  attempt: number;
  resume_checkpoint: string | null;
  resume_epoch: number | null;
  queue_rank: number | null;
  sweep_id?: string | null;
  sweep_member?: string | null;
  sweep_values_json?: string | null;
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

/**
 * What the library's own modules (recorder.ts, queries.ts, transfer.ts) and
 * its white-box tests use: the database and the id/key/path helpers. Not part
 * of RunStore's API, and not exported by core/store/index.ts.
 */
export interface LibraryInternals {
  db: Db;
  /** Primary key of a run by exact id. */
  pk(id: string): number;
  /** Id of a metric key, created on first use. */
  keyId(name: string): number;
  existingKeyId(name: string): number | undefined;
  /** Paths inside the library are stored relative to it, so the folder can move. */
  storePath(path: string): string;
  absolutePath(stored: string): string;
  /** Whether `owner` still holds run `pk`'s claim (checked inside every write of a recorder). */
  holds(pk: number, owner: Owner): boolean;
}

const INTERNALS = new WeakMap<RunStore, LibraryInternals>();

export function libraryInternals(store: RunStore): LibraryInternals {
  return INTERNALS.get(store) as LibraryInternals;
}

export class RunStore {
  readonly paths: LibraryPaths;
  private readonly keyIds = new Map<string, number>();

  private constructor(
    private readonly db: Db,
    paths: LibraryPaths,
  ) {
    this.paths = paths;
    INTERNALS.set(this, {
      db,
      pk: (id) => this.pk(id),
      keyId: (name) => this.keyId(name),
      existingKeyId: (name) => this.existingKeyId(name),
      storePath: (path) => this.storePath(path),
      absolutePath: (stored) => this.absolutePath(stored),
      holds: (pk, owner) => this.holds(pk, owner),
    });
  }

  /** Opens (creating if needed) the library in `home`; by default recovers interrupted runs. */
  static open(home: string, options: StoreOpenOptions = {}): RunStore {
    const paths = libraryPaths(home);
    const store = new RunStore(openDatabase(paths.db, options), paths);
    if (options.recover !== false) {
      try {
        store.recoverInterrupted();
      } catch (err) {
        // Damage SQLite finds only now (a page of the runs table) reads as at open.
        store.close();
        throw fileFailure(paths.db, err) ?? err;
      }
    }
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
    // Checkpoints always live in the run's folder in the library (never a caller's path).
    const { checkpointDir: _ignored, ...spec } = parsed.data;
    let id = options.id ?? newRunId();
    if (options.id !== undefined && !isValidRunId(options.id))
      throw new StoreError("invalid", `invalid run id ${JSON.stringify(options.id)}`);
    if (options.id === undefined) while (this.findExact(id)) id = newRunId();
    else if (this.findExact(id))
      throw new StoreError("duplicate", `a run with id ${id} is already in the library`);
    const dir = join(runDir(this.paths, id), "checkpoints");
    const schedule = spec.schedule as { name?: unknown } | undefined;
    const at = nowIso();
    const claim = options.claim;
    this.db
      .prepare(
        `INSERT INTO runs (id, status, spec_json, schedule_json, schedule_name, model, dataset, optimizer,
           seed, backend, environment_json, created_at, updated_at, checkpoint_dir, resume_checkpoint,
           owner_id, owner_host, owner_pid, owner_started, lease_until, attempt, started_at,
           sweep_id, sweep_member, sweep_values_json)
         VALUES (@id, @status, @spec, @schedule, @scheduleName, @model, @dataset, @optimizer,
           @seed, @backend, @env, @at, @at, @dir, @startFrom,
           @ownerId, @ownerHost, @ownerPid, @ownerStarted, @lease, @attempt, @startedAt,
           @sweepId, @sweepMember, @sweepValues)`,
      )
      .run({
        status: claim ? "running" : "queued",
        startFrom: options.startFrom ? resolve(options.startFrom) : null,
        ownerId: claim?.owner.id ?? null,
        ownerHost: claim?.owner.host ?? null,
        ownerPid: claim?.owner.pid ?? null,
        ownerStarted: claim?.owner.started ?? null,
        lease: claim ? Date.now() + claim.leaseMs : null,
        attempt: claim ? 1 : 0,
        startedAt: claim ? at : null,
        sweepId: options.sweep?.id ?? null,
        sweepMember: options.sweep?.member ?? null,
        sweepValues: options.sweep ? JSON.stringify(options.sweep.values) : null,
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
    return this.withSummaries([this.toRecord(row)], [row.pk])[0] as RunRecord;
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
    const rows = this.db.prepare(sql).all(...params) as RunRow[];
    return this.withSummaries(
      rows.map((r) => this.toRecord(r)),
      rows.map((r) => r.pk),
    );
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

  /**
   * Moves a run to another state; throws StoreError("illegal-transition") for a
   * move the transition table (states.ts) does not allow. `failed` and
   * `interrupted` take the error (the cause, shown to the user). Leaving
   * running/paused drops the claim; `owner` (when given) must still hold it.
   */
  setStatus(
    id: string,
    status: RunStatus,
    options: { error?: Partial<RunError>; owner?: Owner } = {},
  ): void {
    this.db
      .transaction(() => {
        const row = this.row(id);
        if (!row) throw new StoreError("not-found", `no run ${id} in the library ${this.home}`);
        if (options.owner && row.owner_id !== options.owner.id) {
          throw new StoreError(
            "lost-claim",
            `run ${id} is no longer claimed by this process (it is ${row.status}${row.owner_host ? ` on ${row.owner_host}` : ""})`,
          );
        }
        const from = row.status as RunStatus;
        assertTransition(id, from, status);
        if (from === status) return;
        const at = nowIso();
        const active = ACTIVE.includes(status);
        const finished = status !== "queued" && !active;
        const error =
          status === "failed" || (status === "interrupted" && options.error)
            ? {
                code: options.error?.code ?? (status === "failed" ? "internal" : "interrupted"),
                message: options.error?.message ?? status,
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
               owner_id = CASE WHEN @active THEN coalesce(owner_id, @ownerId) ELSE NULL END,
               owner_host = CASE WHEN @active THEN coalesce(owner_host, @ownerHost) ELSE NULL END,
               owner_pid = CASE WHEN @active THEN coalesce(owner_pid, @ownerPid) ELSE NULL END,
               owner_started = CASE WHEN @active THEN coalesce(owner_started, @ownerStarted) ELSE NULL END,
               lease_until = CASE WHEN @active THEN lease_until ELSE NULL END,
               error_code = @code, error_message = @message, error_step = @step, error_epoch = @epoch
             WHERE pk = @pk`,
          )
          .run({
            status,
            at,
            finished: finished ? 1 : 0,
            active: active ? 1 : 0,
            // A run made active without a claim (a recorder used on its own) is owned by this process.
            ownerId: (options.owner ?? currentOwner()).id,
            ownerHost: (options.owner ?? currentOwner()).host,
            ownerPid: (options.owner ?? currentOwner()).pid,
            ownerStarted: (options.owner ?? currentOwner()).started,
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
   * Changes fields of a run's spec for its next attempt (a resume on another
   * backend, or to another number of epochs); validated like a new spec.
   */
  patchSpec(
    id: string,
    patch: { backend?: string; epochs?: number; schedule?: unknown; fit?: "truncate" | "fit" },
  ): RunRecord {
    const run = this.getRun(id);
    const next: Record<string, unknown> = { ...run.spec, ...patch };
    // A key patched to undefined is removed (e.g. `fit` once the schedule is fixed in epoch time).
    for (const k of Object.keys(patch) as (keyof typeof patch)[])
      if (patch[k] === undefined) delete next[k];
    const parsed = TrainSpecSchema.safeParse(next);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new StoreError(
        "invalid",
        `invalid training spec: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`,
      );
    }
    const { checkpointDir: _ignored, ...spec } = parsed.data;
    this.db
      .prepare("UPDATE runs SET spec_json = ?, backend = ?, updated_at = ? WHERE id = ?")
      .run(JSON.stringify(spec), spec.backend ?? null, nowIso(), run.id);
    return this.getRun(run.id);
  }

  // ---- claims and leases --------------------------------------------------

  /**
   * Claims the next queued run for `owner` in one IMMEDIATE transaction: it
   * becomes `running`, owned by `owner`, with a lease until now + leaseMs and
   * its attempt number raised. Two hosts (processes, machines) claiming at
   * once never get the same run. Null when nothing is queued.
   */
  claimNext(owner: Owner, leaseMs: number, filter: ClaimFilter = {}): RunRecord | null {
    return this.db
      .transaction(() => {
        const next = this.claimableRunIds(filter)[0];
        return next === undefined ? null : this.claimRow(next, owner, leaseMs, ["queued"]);
      })
      .immediate();
  }

  /**
   * The queued runs a host may claim now, in queue order: not members of a
   * paused or cancelled sweep, and only `filter.sweepId`'s members when given.
   */
  claimableRunIds(filter: ClaimFilter = {}): string[] {
    const rows = this.db
      .prepare(
        `SELECT id FROM runs r WHERE status = 'queued'
           AND (r.sweep_id IS NULL OR NOT EXISTS
                (SELECT 1 FROM sweeps s WHERE s.id = r.sweep_id AND s.state != 'active'))
           AND (@sweep IS NULL OR r.sweep_id = @sweep)
         ORDER BY queue_rank IS NULL, queue_rank, created_at, pk`,
      )
      .all({ sweep: filter.sweepId ?? null }) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /**
   * Claims one run for `owner` (an explicit resume or `train`): from any of
   * the states in `from`; throws "conflict"-like StoreErrors otherwise.
   */
  claimRun(id: string, owner: Owner, leaseMs: number, from: readonly RunStatus[]): RunRecord {
    return this.db
      .transaction(() => {
        const run = this.claimRow(this.resolveId(id), owner, leaseMs, from);
        if (!run) {
          const now = this.getRun(id);
          throw new StoreError(
            "illegal-transition",
            `run ${now.id} is ${now.status}; only ${from.join(", ")} runs can be started here`,
          );
        }
        return run;
      })
      .immediate();
  }

  private claimRow(
    id: string,
    owner: Owner,
    leaseMs: number,
    from: readonly RunStatus[],
  ): RunRecord | null {
    const at = nowIso();
    const changed = this.db
      .prepare(
        `UPDATE runs SET status = 'running', owner_id = @ownerId, owner_host = @host, owner_pid = @pid,
           owner_started = @started, lease_until = @lease, attempt = attempt + 1,
           queue_rank = NULL, started_at = coalesce(started_at, @at), finished_at = NULL,
           error_code = NULL, error_message = NULL, error_step = NULL, error_epoch = NULL,
           updated_at = @at
         WHERE id = @id AND status IN (${from.map((f) => `'${f}'`).join(",")})`,
      )
      .run({
        id,
        ownerId: owner.id,
        host: owner.host,
        pid: owner.pid,
        started: owner.started,
        lease: Date.now() + leaseMs,
        at,
      }).changes;
    return changed === 1 ? this.getRun(id) : null;
  }

  /**
   * Renews the lease of every run `owner` holds; returns the ids it still
   * holds (a run missing from the answer was taken away: its lease expired and
   * another host marked it interrupted, so this host must stop training it).
   */
  renewLeases(owner: Owner, leaseMs: number): string[] {
    return this.db
      .transaction(() => {
        this.db
          .prepare(
            `UPDATE runs SET lease_until = ? WHERE owner_id = ? AND status IN ('running', 'paused')`,
          )
          .run(Date.now() + leaseMs, owner.id);
        return (
          this.db
            .prepare(`SELECT id FROM runs WHERE owner_id = ? AND status IN ('running', 'paused')`)
            .all(owner.id) as { id: string }[]
        ).map((r) => r.id);
      })
      .immediate();
  }

  /** Whether `owner` still holds run `pk`'s claim (checked inside every write transaction of a recorder). */
  private holds(pk: number, owner: Owner): boolean {
    const row = this.db.prepare("SELECT owner_id, status FROM runs WHERE pk = ?").get(pk) as
      | { owner_id: string | null; status: string }
      | undefined;
    return row?.owner_id === owner.id && (row.status === "running" || row.status === "paused");
  }

  /**
   * Runs left `running` or `paused` by a process that is gone become
   * `interrupted` (resumable from their last checkpoint): the owner on this
   * machine is dead (no such pid, a zombie, or a recycled pid), or the lease
   * of another machine's owner has expired. A live owner on this machine
   * keeps its runs even past its lease (a suspended laptop). Hosts call this
   * on open and then periodically. Returns the ids it changed.
   */
  recoverInterrupted(options: RecoverOptions = {}): string[] {
    const liveness = options.liveness ?? ownerLiveness;
    const now = options.now ?? Date.now();
    const staleMs = options.staleMs ?? 10 * 60_000;
    const changed: string[] = [];
    const rows = this.db
      .prepare(
        `SELECT id, owner_host, owner_pid, owner_started, lease_until, updated_at
         FROM runs WHERE status IN ('running','paused')`,
      )
      .all() as Pick<
      RunRow,
      "id" | "owner_host" | "owner_pid" | "owner_started" | "lease_until" | "updated_at"
    >[];
    for (const r of rows) {
      const alive = liveness({
        host: r.owner_host,
        pid: r.owner_pid,
        started: r.owner_started,
      });
      const expired =
        r.lease_until !== null ? r.lease_until < now : now - Date.parse(r.updated_at) >= staleMs;
      if (alive === "alive" || (alive === "unknown" && !expired)) continue;
      const why =
        alive === "dead"
          ? `the process training it (pid ${r.owner_pid} on ${r.owner_host}) ended without finishing it`
          : `the host training it (${r.owner_host ?? "unknown"}) stopped renewing its lease`;
      const moved = this.db
        .transaction(() => {
          // Re-read under the write lock: the owner may have finished it meanwhile.
          const current = this.row(r.id);
          if (!current || !ACTIVE.includes(current.status as RunStatus)) return false;
          if (current.owner_pid !== r.owner_pid || current.lease_until !== r.lease_until)
            return false;
          this.setStatus(r.id, "interrupted", {
            error: {
              code: "interrupted",
              message: `${why}; resume continues from ${current.resume_epoch === null ? "the start (no checkpoint yet)" : `the checkpoint of epoch ${current.resume_epoch + 1}`}`,
            },
          });
          return true;
        })
        .immediate();
      if (moved) changed.push(r.id);
    }
    return changed;
  }

  /**
   * Where a resume continues from: the checkpoint stored on the run's row,
   * which is written in the same transaction as that epoch's metrics (so the
   * library never holds a checkpoint without its metrics), if its files still
   * exist; or null (the run starts from the beginning).
   */
  resumePoint(id: string): { path: string; epoch: number | null } | null {
    const row = this.row(this.resolveId(id));
    if (!row?.resume_checkpoint) return null;
    const path = this.absolutePath(row.resume_checkpoint);
    return existsSync(join(path, "manifest.json")) ? { path, epoch: row.resume_epoch } : null;
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
  /**
   * A run's display name, or none (null: the schedule's name shows). Kept in
   * the run's environment JSON (`displayName`) rather than a new column, so it
   * needs no schema change and travels with exports and imports as the
   * environment does; training's later environment patches leave it alone.
   */
  rename(id: string, name: string | null): void {
    const pk = this.pk(id);
    const trimmed = name?.trim() ?? "";
    if (trimmed.length > 200)
      throw new StoreError(
        "invalid",
        `a run's name has at most 200 characters (got ${trimmed.length}); shorten it`,
      );
    if (trimmed === "")
      this.db
        .prepare(
          "UPDATE runs SET environment_json = json_remove(coalesce(environment_json, '{}'), '$.displayName'), updated_at = ? WHERE pk = ?",
        )
        .run(nowIso(), pk);
    else
      this.db
        .prepare(
          "UPDATE runs SET environment_json = json_set(coalesce(environment_json, '{}'), '$.displayName', ?), updated_at = ? WHERE pk = ?",
        )
        .run(trimmed, nowIso(), pk);
  }

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
   * Deletes a run, its metrics, tags, note and its folder in the library
   * (runs/<id>: checkpoints). Nothing outside the library is ever deleted:
   * checkpoints an old version wrote elsewhere (--checkpoint-dir) are left
   * in place and listed in `kept`. Refuses a run that is training.
   */
  deleteRun(id: string): { id: string; removed: string[]; kept: string[] } {
    const run = this.getRun(id);
    if (ACTIVE.includes(run.status)) {
      throw new StoreError(
        "illegal-transition",
        `run ${run.id} is ${run.status}; stop it before deleting it`,
      );
    }
    const kept = this.checkpoints(run.id)
      .filter((c) => c.exists && !isInside(this.home, c.path))
      .map((c) => c.path);
    this.db.prepare("DELETE FROM runs WHERE id = ?").run(run.id);
    const removed: string[] = [];
    const own = runDir(this.paths, run.id);
    if (existsSync(own)) {
      rmSync(own, { recursive: true, force: true });
      removed.push(own);
    }
    return { id: run.id, removed, kept };
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
  private pk(id: string): number {
    const row = this.db.prepare("SELECT pk FROM runs WHERE id = ?").get(id) as
      | { pk: number }
      | undefined;
    if (!row) throw new StoreError("not-found", `no run ${id} in the library ${this.home}`);
    return row.pk;
  }

  /** Id of a metric key, created on first use. */
  private keyId(name: string): number {
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
  private existingKeyId(name: string): number | undefined {
    const cached = this.keyIds.get(name);
    if (cached !== undefined) return cached;
    const row = this.db.prepare("SELECT id FROM metric_keys WHERE name = ?").get(name) as
      | { id: number }
      | undefined;
    if (row) this.keyIds.set(name, row.id);
    return row?.id;
  }

  /** Paths inside the library are stored relative to it, so the folder can move. */
  private storePath(path: string): string {
    const abs = resolve(path);
    return isInside(this.home, abs) ? relative(this.home, abs) || "." : abs;
  }

  private absolutePath(stored: string): string {
    return isAbsolute(stored) ? stored : resolve(this.home, stored);
  }

  /** Fills each record's summary from run_metrics (one query for all of them; no values read). */
  private withSummaries(records: RunRecord[], pks: number[]): RunRecord[] {
    if (records.length === 0) return records;
    const byPk = new Map(pks.map((pk, i) => [pk, records[i] as RunRecord]));
    const rows = this.db
      .prepare(
        `SELECT m.run_pk, k.name, m.count, m.final_value, m.min_value, m.max_value, m.final_step
         FROM run_metrics m JOIN metric_keys k ON k.id = m.key_id
         WHERE m.run_pk IN (SELECT value FROM json_each(?)) ORDER BY m.run_pk, k.name`,
      )
      .raw()
      .all(JSON.stringify(pks)) as [
      number,
      string,
      number,
      number | null,
      number | null,
      number | null,
      number | null,
    ][];
    for (const [pk, key, count, final, min, max, lastStep] of rows) {
      const r = byPk.get(pk);
      if (r) r.summary[key] = { count, final, min, max, lastStep };
    }
    return records;
  }

  private toRecord(row: RunRow): RunRecord {
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
      attempt: row.attempt ?? 0,
      resumeEpoch: row.resume_epoch ?? null,
      owner:
        row.owner_host !== null && ACTIVE.includes(status)
          ? { host: row.owner_host, pid: row.owner_pid }
          : null,
      tags: row.tags_json ? (JSON.parse(row.tags_json) as string[]) : [],
      note: row.note ?? null,
      summary: {},
      sweep:
        row.sweep_id && row.sweep_member
          ? {
              id: row.sweep_id,
              member: row.sweep_member,
              values: row.sweep_values_json ? JSON.parse(row.sweep_values_json) : {},
            }
          : null,
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
