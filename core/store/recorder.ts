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
 * Rows: step events give loss, lr, batchSize, delta, gradNorm, throughput at
 * their step; epoch events give trainLoss, trainAccuracy, testLoss,
 * testAccuracy, noiseC (when estimated) and tensors at the epoch's last step;
 * noise events give noiseDirectC. Every row also carries the epoch, the
 * fractional epochs done, the samples seen and the wall time: seconds of
 * recorded training, measured here and continued across resumes.
 *
 * Resuming (a start event with startEpoch > 0) drops rows and checkpoint
 * records of epochs >= startEpoch: they came from the attempt that was cut
 * short and are about to be trained again.
 */
import type { Statement } from "better-sqlite3";
import type { TrainEvent } from "../engine/events.js";
import { nowIso } from "./schema.js";
import type { RunError, RunStore } from "./store.js";

export interface RecorderOptions {
  /** Flush when this many rows are waiting (default 1024: a few ms per flush). */
  flushRows?: number;
  /** Flush rows older than this many milliseconds (default 1000; 0 turns the timer off). */
  flushMs?: number;
  /** Refresh the run's updated_at this often while it trains (default 30 s; 0: off). */
  heartbeatMs?: number;
  /** Called after each committed flush with the rows it wrote and the total so far. */
  onFlush?: (rows: number, total: number) => void;
  /** Called when a timer flush fails (default: a process warning); rows stay queued. */
  onError?: (err: Error) => void;
  /** Milliseconds clock (default performance.now). */
  clock?: () => number;
}

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
const WIDTH = 7;
/** Rows per multi-row INSERT statement (fewer calls into SQLite). */
const CHUNK = 64;

export class RunRecorder {
  readonly pk: number;
  /** Waiting rows, WIDTH numbers each (a typed array: no boxed numbers, no garbage). NaN = NULL. */
  private buffer: Float64Array;
  private used = 0;
  private readonly insertOne: Statement;
  private readonly insertChunk: Statement;
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
  private finished = false;
  private closed = false;

  constructor(
    private readonly store: RunStore,
    readonly runId: string,
    private readonly options: RecorderOptions = {},
  ) {
    const db = store.db;
    this.pk = store.pk(runId);
    this.flushRows = Math.max(1, options.flushRows ?? 1024);
    this.buffer = new Float64Array((this.flushRows + 64) * WIDTH);
    this.clock = options.clock ?? (() => performance.now());
    this.t0 = this.clock();
    const cols = "(run_pk, key_id, step, epoch, epochs_done, samples, wall_time, value)";
    const one = "(?, ?, ?, ?, ?, ?, ?, ?)";
    this.insertOne = db.prepare(`INSERT OR REPLACE INTO metrics ${cols} VALUES ${one}`);
    this.insertChunk = db.prepare(
      `INSERT OR REPLACE INTO metrics ${cols} VALUES ${Array(CHUNK).fill(one).join(",")}`,
    );
    this.progress = db.prepare(
      `UPDATE runs SET last_step = max(coalesce(last_step, -1), ?), samples = ?, wall_time = ?,
         updated_at = ? WHERE pk = ?`,
    );
    this.loadBaseline();
    const flushMs = options.flushMs ?? 1000;
    if (flushMs > 0) this.every(flushMs, () => this.used > 0 && this.flush());
    const heartbeatMs = options.heartbeatMs ?? 30_000;
    if (heartbeatMs > 0)
      this.every(heartbeatMs, () =>
        db
          .prepare(
            "UPDATE runs SET updated_at = ? WHERE pk = ? AND status IN ('running', 'paused')",
          )
          .run(nowIso(), this.pk),
      );
  }

  /** Rows committed by this recorder so far. */
  get committedRows(): number {
    return this.total;
  }

  get pendingRows(): number {
    return this.used / WIDTH;
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
        const at = {
          step: event.step,
          epoch: event.epoch,
          epochsDone: event.epoch + within,
          samples: event.samples,
        };
        const values: Record<string, number> = {};
        for (const k of STEP_KEYS) values[k] = event[k];
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
        this.flush();
        this.store.db
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
          .run({
            epoch: event.epoch,
            trainLoss: finite(event.trainLoss),
            trainAccuracy: finite(event.trainAccuracy),
            testLoss: finite(event.testLoss),
            testAccuracy: finite(event.testAccuracy),
            at: nowIso(),
            pk: this.pk,
          });
        break;
      }
      case "noise":
        this.log({ noiseDirectC: event.c }, this.epochEnd(event.epoch));
        break;
      case "checkpoint":
        this.flush();
        this.store.db
          .prepare(
            "INSERT OR REPLACE INTO checkpoints (run_pk, epoch, step, path, created_at) VALUES (?, ?, ?, ?, ?)",
          )
          .run(
            this.pk,
            event.epoch,
            this.lastStep >= 0 ? this.lastStep : null,
            this.store.storePath(event.path),
            nowIso(),
          );
        break;
      case "paused":
        this.flush();
        this.store.setStatus(this.runId, "paused");
        break;
      case "resumed":
        this.store.setStatus(this.runId, "running");
        break;
      case "stopping":
        this.flush();
        break;
      case "summary":
        this.flush();
        this.store.db
          .prepare(
            `UPDATE runs SET final_test_accuracy = coalesce(@test, final_test_accuracy),
               best_test_accuracy = coalesce(@best, best_test_accuracy),
               best_epoch = coalesce(@bestEpoch, best_epoch), updated_at = @at WHERE pk = @pk`,
          )
          .run({
            test: event.testAccuracy,
            best: event.bestTestAccuracy,
            bestEpoch: event.bestEpoch,
            at: nowIso(),
            pk: this.pk,
          });
        this.store.setStatus(this.runId, event.status);
        this.finished = true;
        break;
      case "error":
        this.fail({
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
      b[i] = this.store.keyId(key);
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

  /** Writes the waiting rows in one transaction; returns how many. */
  flush(): number {
    const rows = this.used / WIDTH;
    if (rows === 0) return 0;
    const b = this.buffer;
    const pk = this.pk;
    this.store.db.transaction(() => {
      let i = 0;
      const args: number[] = new Array(CHUNK * (WIDTH + 1));
      for (; i + CHUNK <= rows; i += CHUNK) {
        for (let r = 0; r < CHUNK; r++) {
          const src = (i + r) * WIDTH;
          const dst = r * (WIDTH + 1);
          args[dst] = pk;
          for (let c = 0; c < WIDTH; c++) args[dst + 1 + c] = b[src + c] as number;
        }
        this.insertChunk.run(args);
      }
      for (; i < rows; i++) {
        const src = i * WIDTH;
        this.insertOne.run(pk, ...b.subarray(src, src + WIDTH));
      }
      this.progress.run(this.lastStep, this.lastSamples, this.wallTime(), nowIso(), pk);
    })();
    this.used = 0;
    this.total += rows;
    this.options.onFlush?.(rows, this.total);
    return rows;
  }

  /** Marks the run failed (unless it already finished), after writing the waiting rows. */
  fail(error: Partial<RunError> & { message: string }): void {
    if (this.finished) return;
    this.flush();
    this.store.setStatus(this.runId, "failed", { error });
    this.finished = true;
  }

  /** Writes what is waiting and stops the timers. Leaves the status as it is. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    if (this.store.db.open) this.flush();
  }

  private start(startEpoch: number, event: Extract<TrainEvent, { type: "start" }>): void {
    this.flush();
    const db = this.store.db;
    this.store.setStatus(this.runId, "running");
    db.transaction(() => {
      db.prepare("DELETE FROM metrics WHERE run_pk = ? AND epoch >= ?").run(this.pk, startEpoch);
      db.prepare("DELETE FROM checkpoints WHERE run_pk = ? AND epoch >= ?").run(
        this.pk,
        startEpoch,
      );
      db.prepare(
        `UPDATE runs SET backend = @backend, planned_epochs = @epochs, planned_steps = @steps,
           last_epoch = CASE WHEN @startEpoch > 0 THEN @startEpoch - 1 ELSE NULL END,
           environment_json = json_patch(environment_json, @env), updated_at = @at
         WHERE pk = @pk`,
      ).run({
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
        }),
        at: nowIso(),
        pk: this.pk,
      });
    })();
    this.trainCount = event.dataset.train > 0 ? event.dataset.train : null;
    this.loadBaseline();
    this.t0 = this.clock();
  }

  /** Continue step, samples and wall time from what the library already holds for this run. */
  private loadBaseline(): void {
    const row = this.store.db
      .prepare(
        `SELECT max(step) AS step, max(samples) AS samples, max(wall_time) AS wall, max(epoch) AS epoch
         FROM metrics WHERE run_pk = ?`,
      )
      .get(this.pk) as {
      step: number | null;
      samples: number | null;
      wall: number | null;
      epoch: number | null;
    };
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
