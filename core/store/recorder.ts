/**
 * Turns a run's training events into library rows.
 *
 * Metric rows are buffered and written in one transaction every `flushRows`
 * rows, every `flushMs` milliseconds (a timer in the host's event loop), at
 * every epoch end, status change and checkpoint, and on close. One
 * transaction of a few thousand rows takes a few milliseconds, so logging
 * every step costs training next to nothing (bench/store-metrics.bench.ts);
 * a crash loses at most the rows not yet flushed, never a committed one.
 *
 * Rows: step events give loss, lr, batchSize, delta, gradNorm, throughput and
 * deltaScheduled at their step, and noiseCUpdate (the new estimate of C) at
 * the steps where C was re-estimated; epoch events give trainLoss, trainAccuracy, testLoss,
 * testAccuracy, noiseC (when estimated) and tensors at the epoch's last step;
 * noise events give noiseDirectC. Every row also carries the epoch, the
 * fractional epochs done, the samples seen and the wall time: seconds of
 * recorded training, continued across resumes; a step's is the trainer's
 * time for that step (StepEvent.time, relative to the start event's), others
 * are measured here.
 *
 * Resuming (a start event with startEpoch > 0) drops rows and checkpoint
 * records of epochs >= startEpoch: they came from the part of an attempt that
 * was cut short after its last checkpoint and are about to be trained again
 * (the same steps, on the same trajectory). Rows of earlier epochs are kept.
 *
 * Order and durability: every write is one transaction, applied in the order
 * of the events. A checkpoint record (and the run's resume point) is written
 * in the same transaction as every row before it, so the library never holds
 * a resume point whose epoch's metrics are missing; older checkpoint folders
 * are deleted only after that commit.
 *
 * A busy library (another process holds the write lock) never blocks the
 * host: the connection waits only briefly (lockWaitMs), then the write stays
 * queued and is retried off the event loop with backoff, later events queue
 * behind it, and after `writeTimeoutMs` without success the recorder gives up
 * and calls `onWriteFailure` (the host then stops the run as interrupted).
 * When `owner` is given, every transaction first checks that this process
 * still holds the run's claim.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Statement } from "better-sqlite3";
import { INTERRUPTING_ERRORS } from "../api/events.js";
import type { TrainEvent } from "../engine/events.js";
import { isBusy, StoreError } from "./errors.js";
import type { Owner } from "./owner.js";
import { isInside } from "./paths.js";
import { nowIso } from "./schema.js";
import { appendRows, baseline, ROW_WIDTH, trimFromEpoch } from "./series.js";
import type { RunStatus } from "./states.js";
import { type LibraryInternals, libraryInternals, type RunError, type RunStore } from "./store.js";

export interface RecorderOptions {
  /** Flush when this many rows are waiting (default 1024: a few ms per flush). */
  flushRows?: number;
  /** Flush rows older than this many milliseconds (default 1000; 0 turns the timer off). */
  flushMs?: number;
  /** Refresh the run's updated_at this often while it trains (default 30 s; 0: off). */
  heartbeatMs?: number;
  /** Called after each committed flush with the rows it wrote and the total so far. */
  onFlush?: (rows: number, total: number) => void;
  /** Called when a timer callback fails (default: a process warning). */
  onError?: (err: Error) => void;
  /** Milliseconds clock (default performance.now). */
  clock?: () => number;
  /** The claim the writes are made under: each transaction checks this process still holds it. */
  owner?: Owner;
  /** Give up when the library has refused writes for this long (ms, default 60 s). */
  writeTimeoutMs?: number;
  /**
   * Called once when writing finally fails (the lock outlasted writeTimeoutMs,
   * the claim was lost, the disk is full, ...). Later events are dropped; the
   * host must stop the run. Without it, the error is thrown to the caller.
   */
  onWriteFailure?: (err: Error) => void;
}

/** First retry after a busy library, doubled up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 25;
const MAX_RETRY_MS = 1000;

export interface ScalarPoint {
  step: number;
  epoch?: number;
  /** Fractional epochs done (default: epoch). */
  epochsDone?: number;
  samples?: number;
  /** Seconds (default: the recorder's clock). */
  wallTime?: number;
}

const STEP_KEYS = ["loss", "lr", "batchSize", "delta", "gradNorm", "throughput"] as const;
/** Values per buffered row: key id, step, epoch, epochsDone, samples, wallTime, value. */
const WIDTH = ROW_WIDTH;

interface Write {
  /** Runs inside one IMMEDIATE transaction. */
  apply: () => void;
  /** Runs after the commit (file cleanup, counters). */
  after?: () => void;
}

export class RunRecorder {
  readonly pk: number;
  private readonly lib: LibraryInternals;
  /** Waiting rows, WIDTH numbers each (a typed array: no boxed numbers, no garbage). NaN = NULL. */
  private buffer: Float64Array;
  private used = 0;
  private readonly progress: Statement;
  private readonly flushRows: number;
  private readonly clock: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  private total = 0;
  private lastStep = -1;
  private lastSamples = 0;
  private lastEpoch = 0;
  private epochStart = { epoch: -1, samples: 0 };
  private trainCount: number | null = null;
  private t0: number;
  private wallOffset = 0;
  /** The trainer's clock (StartEvent.time) when this attempt's start event was sent. */
  private startTime: number | null = null;
  private finished = false;
  private closed = false;
  /** Writes not yet committed, oldest first (non-empty only while the library is busy). */
  private readonly writes: Write[] = [];
  private retry: NodeJS.Timeout | null = null;
  private retryMs = FIRST_RETRY_MS;
  private busySince: number | null = null;
  private failure: Error | null = null;
  private idle: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(
    private readonly store: RunStore,
    readonly runId: string,
    private readonly options: RecorderOptions = {},
  ) {
    this.lib = libraryInternals(store);
    const db = this.lib.db;
    this.pk = this.lib.pk(runId);
    this.flushRows = Math.max(1, options.flushRows ?? 1024);
    this.buffer = new Float64Array((this.flushRows + 64) * WIDTH);
    this.clock = options.clock ?? (() => performance.now());
    this.t0 = this.clock();
    this.progress = db.prepare(
      `UPDATE runs SET last_step = max(coalesce(last_step, -1), ?), samples = ?, wall_time = ?,
         updated_at = ? WHERE pk = ?`,
    );
    this.loadBaseline(Number.POSITIVE_INFINITY);
    const flushMs = options.flushMs ?? 1000;
    if (flushMs > 0) this.every(flushMs, () => this.used > 0 && this.flush());
    const heartbeatMs = options.heartbeatMs ?? 30_000;
    if (heartbeatMs > 0)
      this.every(heartbeatMs, () =>
        this.write(() => {
          db.prepare(
            "UPDATE runs SET updated_at = ? WHERE pk = ? AND status IN ('running', 'paused')",
          ).run(nowIso(), this.pk);
        }),
      );
  }

  /** Rows committed by this recorder so far. */
  get committedRows(): number {
    return this.total;
  }

  /** Rows not yet committed (buffered, or queued behind a busy library). */
  get pendingRows(): number {
    return this.used / WIDTH + this.queuedRows;
  }

  private queuedRows = 0;

  /** Why writing stopped for good, if it did. */
  get writeFailure(): Error | null {
    return this.failure;
  }

  /** Records one training event (see the module comment for what each becomes). */
  record(event: TrainEvent): void {
    switch (event.type) {
      case "start":
        this.start(event.startEpoch, event);
        break;
      case "step": {
        if (event.epoch !== this.epochStart.epoch) {
          this.epochStart = {
            epoch: event.epoch,
            samples: Math.max(0, event.samples - event.batchSize),
          };
        }
        const within = this.trainCount
          ? Math.min(1, (event.samples - this.epochStart.samples) / this.trainCount)
          : 0;
        const at: ScalarPoint = {
          step: event.step,
          epoch: event.epoch,
          epochsDone: event.epoch + within,
          samples: event.samples,
        };
        // The step's own time (steps arrive in bursts, one per reporting window of the trainer).
        if (event.time !== undefined && this.startTime !== null)
          at.wallTime = this.wallOffset + Math.max(0, event.time - this.startTime);
        const values: Record<string, number> = {};
        for (const k of STEP_KEYS) values[k] = event[k];
        if (event.deltaScheduled !== undefined) values.deltaScheduled = event.deltaScheduled;
        // Sparse: only where C was re-estimated (the moments the measured delta may step).
        if (event.noiseUpdated && typeof event.noiseC === "number")
          values.noiseCUpdate = event.noiseC;
        this.log(values, at);
        break;
      }
      case "epoch": {
        const values: Record<string, number | null> = {
          trainLoss: event.trainLoss,
          trainAccuracy: event.trainAccuracy,
          testLoss: event.testLoss,
          testAccuracy: event.testAccuracy,
          tensors: event.tensors,
        };
        if (event.noiseC !== null) values.noiseC = event.noiseC;
        this.log(values, this.epochEnd(event.epoch));
        const update = {
          epoch: event.epoch,
          trainLoss: finite(event.trainLoss),
          trainAccuracy: finite(event.trainAccuracy),
          testLoss: finite(event.testLoss),
          testAccuracy: finite(event.testAccuracy),
          at: nowIso(),
          pk: this.pk,
        };
        this.flush(() => {
          this.lib.db
            .prepare(
              `UPDATE runs SET last_epoch = @epoch, final_train_loss = @trainLoss,
                 final_train_accuracy = @trainAccuracy, final_test_loss = @testLoss,
                 final_test_accuracy = @testAccuracy,
                 best_epoch = CASE WHEN best_test_accuracy IS NULL OR @testAccuracy > best_test_accuracy
                   THEN @epoch ELSE best_epoch END,
                 best_test_accuracy = CASE WHEN best_test_accuracy IS NULL OR @testAccuracy > best_test_accuracy
                   THEN @testAccuracy ELSE best_test_accuracy END,
                 updated_at = @at
               WHERE pk = @pk`,
            )
            .run(update);
        });
        break;
      }
      case "noise":
        this.log({ noiseDirectC: event.c }, this.epochEnd(event.epoch));
        break;
      case "remote":
        // Which worker trained each delivery of a remote run (docs/remote.md): environment.remote.
        this.appendEnvironment("remote", [
          { attempt: event.attempt, delivery: event.delivery, worker: event.worker, at: nowIso() },
        ]);
        break;
      case "sharpness":
        // Values at the epoch's end (sharpness, sharpnessL2, sharpnessOneStep); their settings
        // appended to the environment's `sharpness` list (docs/sharpness.md). Progress: nothing.
        if (event.values?.length) this.recordSharpness(event, event.values);
        break;
      case "checkpoint": {
        const step = this.lastStep >= 0 ? this.lastStep : null;
        const stored = this.lib.storePath(event.path);
        const at = nowIso();
        // The checkpoint and the resume point are committed with every row before them.
        this.flush(
          () => {
            const db = this.lib.db;
            db.prepare(
              "INSERT OR REPLACE INTO checkpoints (run_pk, epoch, step, path, created_at) VALUES (?, ?, ?, ?, ?)",
            ).run(this.pk, event.epoch, step, stored, at);
            db.prepare(
              "UPDATE runs SET resume_checkpoint = ?, resume_epoch = ?, checkpoint_dir = coalesce(checkpoint_dir, ?) WHERE pk = ?",
            ).run(stored, event.epoch, this.lib.storePath(join(event.path, "..")), this.pk);
          },
          () => this.pruneCheckpoints(event.path, event.epoch),
        );
        break;
      }
      case "paused":
        this.flush(() => this.store.setStatus(this.runId, "paused", { owner: this.options.owner }));
        break;
      case "resumed":
        this.write(() =>
          this.store.setStatus(this.runId, "running", { owner: this.options.owner }),
        );
        break;
      case "stopping":
        this.flush();
        break;
      case "summary": {
        const update = {
          test: event.testAccuracy,
          best: event.bestTestAccuracy,
          bestEpoch: event.bestEpoch,
          at: nowIso(),
          pk: this.pk,
        };
        this.flush(() => {
          this.lib.db
            .prepare(
              `UPDATE runs SET final_test_accuracy = coalesce(@test, final_test_accuracy),
                 best_test_accuracy = coalesce(@best, best_test_accuracy),
                 best_epoch = coalesce(@bestEpoch, best_epoch), updated_at = @at WHERE pk = @pk`,
            )
            .run(update);
          this.store.setStatus(this.runId, event.status, { owner: this.options.owner });
        });
        this.finished = true;
        break;
      }
      case "error":
        // Errors a resume gets past (a full disk, a killed worker) leave the run interrupted.
        this.finish(INTERRUPTING_ERRORS.includes(event.code) ? "interrupted" : "failed", {
          code: event.code,
          message: event.message,
          step: event.step ?? null,
          epoch: event.epoch ?? null,
        });
        break;
    }
  }

  /**
   * Records arbitrary scalars at one point (what record() does for events;
   * also for hosts with their own metrics). Values that are not finite are stored as NULL.
   */
  log(values: Record<string, number | null>, at: ScalarPoint): void {
    const epoch = at.epoch ?? this.lastEpoch;
    const samples = at.samples ?? this.lastSamples;
    const wall = at.wallTime ?? this.wallTime();
    const epochsDone = at.epochsDone ?? epoch;
    for (const key in values) {
      const value = values[key];
      if (this.used + WIDTH > this.buffer.length) {
        const bigger = new Float64Array(this.buffer.length * 2);
        bigger.set(this.buffer);
        this.buffer = bigger;
      }
      const b = this.buffer;
      const i = this.used;
      b[i] = this.lib.keyId(key);
      b[i + 1] = at.step;
      b[i + 2] = epoch;
      b[i + 3] = epochsDone;
      b[i + 4] = samples;
      b[i + 5] = wall;
      // SQLite stores NaN as NULL; infinities are made NaN here.
      b[i + 6] =
        value === null || value === undefined || !Number.isFinite(value) ? Number.NaN : value;
      this.used = i + WIDTH;
    }
    if (at.step > this.lastStep) this.lastStep = at.step;
    this.lastSamples = samples;
    this.lastEpoch = epoch;
    if (this.used >= this.flushRows * WIDTH) this.flush();
  }

  /**
   * Writes the waiting rows in one transaction (with `also` inside the same
   * transaction, `after` once it committed); returns how many rows. When the
   * library is busy the write stays queued and is retried (see the module comment).
   */
  flush(also?: () => void, after?: () => void): number {
    const rows = this.used / WIDTH;
    if (rows === 0 && !also) return 0;
    const b = this.buffer.slice(0, this.used);
    this.used = 0;
    const pk = this.pk;
    const progress = [this.lastStep, this.lastSamples, this.wallTime()] as const;
    this.queuedRows += rows;
    this.write(
      () => {
        appendRows(this.lib.db, pk, b, rows);
        if (rows > 0) this.progress.run(...progress, nowIso(), pk);
        also?.();
      },
      () => {
        this.queuedRows -= rows;
        this.total += rows;
        if (rows > 0) this.options.onFlush?.(rows, this.total);
        after?.();
      },
    );
    return rows;
  }

  /** Marks the run failed (unless it already finished), after writing the waiting rows. */
  fail(error: Partial<RunError> & { message: string }): void {
    this.finish("failed", error);
  }

  /**
   * Ends the run with a verdict the host reached (failed, interrupted, or a
   * status from a summary), after the waiting rows; ignored once finished.
   */
  finish(status: RunStatus, error?: Partial<RunError> & { message: string }): void {
    if (this.finished) return;
    this.finished = true;
    this.flush(() =>
      this.store.setStatus(this.runId, status, { error, owner: this.options.owner }),
    );
  }

  /** Resolves once every queued write is committed; rejects with the failure if writing gave up. */
  whenIdle(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.writes.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idle.push({ resolve, reject }));
  }

  /** Writes what is waiting (if the library lets it now) and stops the timers. Leaves the status as it is. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    if (this.lib.db.open) this.flush();
  }

  /** Stops retrying: what is still queued is dropped (the caller decided to give up). */
  abandon(): void {
    this.close();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.writes.length = 0;
    this.settleIdle();
  }

  // ---- the write queue ----------------------------------------------------

  private write(apply: () => void, after?: () => void): void {
    if (this.failure) return;
    this.writes.push({ apply, after });
    if (!this.retry && this.writes.length === 1) this.drain();
  }

  private drain(): void {
    this.retry = null;
    const db = this.lib.db;
    while (this.writes.length > 0 && !this.failure) {
      const w = this.writes[0] as Write;
      try {
        if (!db.open)
          throw new StoreError("open", "the library was closed while a run was recording");
        db.transaction(() => {
          const owner = this.options.owner;
          if (owner && !this.lib.holds(this.pk, owner)) {
            throw new StoreError(
              "lost-claim",
              `run ${this.runId} is no longer claimed by this process (its lease expired and another host took it over)`,
            );
          }
          w.apply();
        }).immediate();
      } catch (err) {
        if (isBusy(err) && !this.closedForGood()) {
          const now = Date.now();
          this.busySince ??= now;
          const limit = this.options.writeTimeoutMs ?? 60_000;
          if (now - this.busySince < limit) {
            this.retry = setTimeout(() => {
              try {
                this.drain();
              } catch (e) {
                // No onWriteFailure to tell: say it, rather than crash the host from a timer.
                process.emitWarning(`run library: ${(e as Error).message}`);
              }
            }, this.retryMs);
            this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
            return;
          }
          this.giveUp(
            new StoreError(
              "busy",
              `the library ${this.store.paths.db} stayed locked by another process for ${Math.round((now - this.busySince) / 1000)} s, so run ${this.runId}'s metrics could not be saved; find the process holding it (e.g. an open sqlite3 shell or a sync tool) and resume the run`,
            ),
          );
          return;
        }
        this.giveUp(err as Error);
        return;
      }
      this.writes.shift();
      this.busySince = null;
      this.retryMs = FIRST_RETRY_MS;
      w.after?.();
    }
    if (this.writes.length === 0) this.settleIdle();
  }

  private closedForGood(): boolean {
    return !this.lib.db.open;
  }

  private giveUp(err: Error): void {
    this.failure = err;
    this.writes.length = 0;
    for (const t of this.timers) clearInterval(t);
    for (const w of this.idle.splice(0)) w.reject(err);
    if (this.options.onWriteFailure) this.options.onWriteFailure(err);
    else throw err;
  }

  private settleIdle(): void {
    for (const w of this.idle.splice(0)) w.resolve();
  }

  /** Deletes the run's checkpoint folders of epochs before `epoch` (only inside the library). */
  private pruneCheckpoints(path: string, epoch: number): void {
    const dir = join(path, "..");
    if (!isInside(this.store.home, dir)) return;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = /^epoch-(\d+)$/.exec(name);
      // Later folders may belong to epochs the worker saved after this one: keep them.
      if (m && Number(m[1]) < epoch) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  private start(startEpoch: number, event: Extract<TrainEvent, { type: "start" }>): void {
    this.flush();
    // What the library holds before this attempt (read now: reads never wait for the lock).
    this.loadBaseline(startEpoch);
    this.trainCount = event.dataset.train > 0 ? event.dataset.train : null;
    this.t0 = this.clock();
    this.startTime = event.time ?? null;
    const update = {
      backend: event.backend,
      epochs: event.epochs,
      steps: event.steps,
      startEpoch,
      env: JSON.stringify({
        backend: event.backend,
        backendSummary: event.backendSummary,
        dataset: event.dataset,
        modelParameters: event.model.parameters,
        scheduleWarnings: event.warnings,
        numericPath: event.numericPath,
        torch: event.torch,
      }),
      at: nowIso(),
      pk: this.pk,
    };
    this.write(() => {
      const db = this.lib.db;
      this.store.setStatus(this.runId, "running", { owner: this.options.owner });
      trimFromEpoch(db, this.pk, startEpoch);
      db.prepare("DELETE FROM checkpoints WHERE run_pk = ? AND epoch >= ?").run(
        this.pk,
        startEpoch,
      );
      db.prepare(
        `UPDATE runs SET backend = @backend, planned_epochs = @epochs, planned_steps = @steps,
           last_epoch = CASE WHEN @startEpoch > 0 THEN @startEpoch - 1 ELSE NULL END,
           environment_json = json_patch(environment_json, @env), updated_at = @at
         WHERE pk = @pk`,
      ).run(update);
    });
  }

  private recordSharpness(
    event: Extract<TrainEvent, { type: "sharpness" }>,
    values: NonNullable<Extract<TrainEvent, { type: "sharpness" }>["values"]>,
  ): void {
    this.log(Object.fromEntries(values.map((v) => [v.key, v.value])), this.epochEnd(event.epoch));
    const at = nowIso();
    const records = values.map((v) => ({
      ...v,
      epoch: event.epoch,
      when: event.when,
      backend: event.backend ?? null,
      seconds: event.seconds ?? null,
      at,
    }));
    this.appendEnvironment("sharpness", records);
  }

  /** Appends records to a list in the run's environment (the last 1000 kept), after the waiting rows. */
  private appendEnvironment(key: string, records: unknown[]): void {
    this.flush(() => {
      const db = this.lib.db;
      const row = db
        .prepare("SELECT environment_json AS env FROM runs WHERE pk = ?")
        .get(this.pk) as { env: string | null } | undefined;
      const env = JSON.parse(row?.env ?? "{}") as Record<string, unknown>;
      const list = Array.isArray(env[key]) ? env[key] : [];
      env[key] = [...list, ...records].slice(-1000);
      db.prepare("UPDATE runs SET environment_json = ? WHERE pk = ?").run(
        JSON.stringify(env),
        this.pk,
      );
    });
  }

  /** Continue step, samples and wall time from the rows of epochs before `beforeEpoch`. */
  private loadBaseline(beforeEpoch: number): void {
    const row = baseline(
      this.lib.db,
      this.pk,
      Number.isFinite(beforeEpoch) ? beforeEpoch : Number.MAX_SAFE_INTEGER,
    );
    this.lastStep = row.step ?? -1;
    this.lastSamples = row.samples ?? 0;
    this.lastEpoch = row.epoch ?? 0;
    this.wallOffset = row.wall ?? 0;
  }

  private epochEnd(epoch: number): ScalarPoint {
    return { step: Math.max(0, this.lastStep), epoch, epochsDone: epoch + 1 };
  }

  private wallTime(): number {
    return this.wallOffset + (this.clock() - this.t0) / 1000;
  }

  private every(ms: number, fn: () => unknown): void {
    const timer = setInterval(() => {
      try {
        fn();
      } catch (err) {
        const e = err as Error;
        if (this.options.onError) this.options.onError(e);
        else process.emitWarning(`run library: ${e.message}`);
      }
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
