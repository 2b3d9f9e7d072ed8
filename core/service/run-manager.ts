/**
 * The run lifecycle: the only thing that launches training. Every host (the
 * CLI's `train` and `runs`, `serve`, Electron) reaches it through the service.
 *
 * The library is the single source of truth:
 * - The queue is the library's `queued` runs. A host trains a run only after
 *   claiming it (RunStore.claimNext / claimRun: one IMMEDIATE transaction
 *   records the owner — host, pid, process start time, a random instance id —
 *   a lease and a new attempt number), so two hosts on one home never train
 *   the same run.
 * - A heartbeat renews the leases of the runs this host trains and sweeps the
 *   library for runs whose owner is gone (a dead, zombie or recycled pid on
 *   this machine, or an expired lease of another machine's host): those
 *   become `interrupted`, while hosts run, not only when a library opens. A
 *   run whose claim this host lost is killed here at once.
 * - The resume point is on the run's row, committed with its epoch's metrics
 *   (recorder.ts); a resumed or re-queued run continues from it, whichever
 *   host trains it, after any restart.
 * - Verdicts: the worker's summary (completed, stopped); its reported error
 *   (failed, or interrupted for errors a resume gets past, such as a full
 *   disk); a worker that ended without a report (killed, crashed) or a library
 *   that stayed unwritable: interrupted, with the cause.
 */
import { join, resolve } from "node:path";
import type { ParsedParams, ServiceEvent } from "../api/contract.js";
import { ServiceError } from "../api/contract.js";
import { INTERRUPTING_ERRORS, type TrainingErrorCode } from "../api/events.js";
import { DATASET_NAMES, DATASET_TRAIN_SIZES } from "../api/lists.js";
import { removeStaleTemporaries } from "../engine/checkpoint.js";
import type { TrainEvent, TrainSpecInput } from "../engine/events.js";
import type { TrainingHandle, TrainingLauncher } from "../engine/worker-client.js";
import { currentOwner, type Owner } from "../store/owner.js";
import { isInside } from "../store/paths.js";
import type { RunRecorder } from "../store/recorder.js";
import { RESUMABLE } from "../store/states.js";
import { type ClaimFilter, type RunRecord, RunStore } from "../store/store.js";
import { resumeLengthChange } from "./resume-length.js";
import { resolveSchedule } from "./schedules.js";

export interface RunManagerOptions {
  home: string;
  launch: TrainingLauncher;
  /**
   * Take runs from the library's queue (default true). The CLI's `train`
   * sets false: it trains only the run it started.
   */
  takeQueue?: boolean;
  /** Start queued runs at once (default true; tests may hold the queue). */
  autoStart?: boolean;
  /** Runs trained at once by this host (default 1). */
  concurrency?: number;
  /**
   * The caller is the user's own command line: dataset paths and dataDir
   * anywhere, and `here` starts. Hosts that serve a renderer (which is
   * untrusted, docs/security.md) leave it off: paths are confined to the home.
   */
  trusted?: boolean;
  /** A claim lasts this long without renewal (ms, default 60 s). */
  leaseMs?: number;
  /** Lease renewal and the sweep for abandoned runs (ms, default 5 s). */
  heartbeatMs?: number;
  /** How long one library statement waits for another process's lock (ms, default 200). */
  lockWaitMs?: number;
  /** Give up recording after the library refused writes this long (ms; default 60 s or SGD_STUDIO_WRITE_TIMEOUT_MS). */
  writeTimeoutMs?: number;
  /** Claim only these queued runs (`sweep run` trains its sweep's members only; core/store ClaimFilter). */
  claimFilter?: ClaimFilter;
}

interface Active {
  id: string;
  handle: TrainingHandle;
  recorder: RunRecorder;
  /** Set when this host decided the verdict itself (lost claim, write failure). */
  verdict?: { status: "interrupted"; code: string; message: string };
  /**
   * The worker reported its verdict (summary or error): once the recorder has
   * written it, the run is no longer running, so its claim ends here, not lost.
   */
  reported?: boolean;
}

export class RunManager {
  readonly store: RunStore;
  readonly owner: Owner;
  private readonly active = new Map<string, Active>();
  /** Verdicts this host reached but could not write yet (the library was locked): retried. */
  private readonly unwritten = new Map<string, { code: string; message: string }>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private pumpRetry: NodeJS.Timeout | null = null;
  private readonly leaseMs: number;
  private readonly writeTimeoutMs: number;

  constructor(
    private readonly options: RunManagerOptions,
    private readonly emit: (event: ServiceEvent) => void,
  ) {
    this.owner = currentOwner();
    this.leaseMs = options.leaseMs ?? 60_000;
    const fromEnv = Number(process.env.SGD_STUDIO_WRITE_TIMEOUT_MS);
    this.writeTimeoutMs =
      options.writeTimeoutMs ?? (Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : 60_000);
    this.store = RunStore.open(options.home, { lockWaitMs: options.lockWaitMs ?? 200 });
    this.timer = setInterval(() => this.heartbeat(), options.heartbeatMs ?? 5_000);
    this.timer.unref();
    if (this.takesQueue()) queueMicrotask(() => this.pump());
  }

  private takesQueue(): boolean {
    return this.options.takeQueue !== false && this.options.autoStart !== false;
  }

  /** Ids of the queued runs in the order they will train (the library's order). */
  queue(): string[] {
    return this.store.queuedRunIds();
  }

  /** Moves a queued run to `position` among the queued runs (clamped); returns their new order. */
  moveInQueue(id: string, position: number): string[] {
    const run = this.store.getRun(id);
    const waiting = this.queue();
    const from = waiting.indexOf(run.id);
    if (from < 0)
      throw new ServiceError(
        "conflict",
        `run ${run.id} is ${run.status}, not waiting in the queue`,
      );
    waiting.splice(from, 1);
    waiting.splice(Math.min(position, waiting.length), 0, run.id);
    this.store.setQueueOrder(waiting);
    this.queueChanged();
    return waiting;
  }

  start(p: ParsedParams<"runs.start">): { id: string; position: number } {
    const spec = this.checkSpec(p.spec);
    spec.schedule = resolveSchedule(spec.schedule);
    if (p.name) (spec.schedule as { name?: string }).name = p.name;
    if (p.here) {
      this.requireTrusted("here");
      const run = this.store.createRun(spec as unknown as TrainSpecInput, undefined, {
        claim: { owner: this.owner, leaseMs: this.leaseMs },
      });
      this.launch(run);
      return { id: run.id, position: -1 };
    }
    const run = this.store.createRun(spec as unknown as TrainSpecInput);
    this.queueChanged();
    this.pump();
    return { id: run.id, position: this.queue().indexOf(run.id) };
  }

  /**
   * For the CLI's `train --resume <folder>`: a new run, claimed here, whose
   * first attempt starts from a checkpoint folder outside the library.
   */
  startFrom(spec: Record<string, unknown>, checkpoint: string): { id: string } {
    this.requireTrusted("a checkpoint folder");
    const checked = this.checkSpec(spec);
    checked.schedule = resolveSchedule(checked.schedule);
    const run = this.store.createRun(checked as unknown as TrainSpecInput, undefined, {
      claim: { owner: this.owner, leaseMs: this.leaseMs },
      startFrom: checkpoint,
    });
    this.launch(run);
    return { id: run.id };
  }

  pause(id: string): void {
    this.activeRun(id).handle.pause();
  }

  /**
   * A paused run continues. A stopped, interrupted or failed run continues
   * from its resume point (or from the start when it has none): queued, or
   * with `here` claimed and trained by this host at once.
   */
  resume(
    id: string,
    here = false,
    override: { backend?: string; epochs?: number; keepSchedule?: boolean } = {},
  ): void {
    const run = this.store.getRun(id);
    const overriding = override.backend !== undefined || override.epochs !== undefined;
    if (run.status === "paused" && !overriding) {
      this.activeRun(run.id).handle.resume();
      return;
    }
    if (!RESUMABLE.includes(run.status)) {
      throw new ServiceError(
        "conflict",
        `run ${run.id} is ${run.status}; only ${RESUMABLE.join(", ")}${overriding ? "" : " or paused"} runs can be resumed${overriding ? " with changes" : ""}`,
      );
    }
    if (
      override.epochs !== undefined &&
      run.resumeEpoch !== null &&
      override.epochs <= run.resumeEpoch + 1
    )
      throw new ServiceError(
        "invalid-params",
        `override.epochs: run ${run.id} has already trained ${run.resumeEpoch + 1} epochs; give more than that`,
        "override.epochs",
      );
    if (overriding) this.store.patchSpec(run.id, this.lengthPatch(run, override));
    if (here) {
      this.requireTrusted("here");
      this.launch(this.store.claimRun(run.id, this.owner, this.leaseMs, RESUMABLE));
      return;
    }
    this.store.setStatus(run.id, "queued");
    this.emit({ type: "run.status", runId: run.id, status: "queued" });
    this.queueChanged();
    this.pump();
  }

  /**
   * The spec changes of a resume with overrides. A new length that would change
   * the schedule of epochs already trained (a schedule relative to the run, or
   * fitted to it: recompiled, its whole shape moves) is refused, unless
   * `keepSchedule` asks to keep the schedule as trained (compiled for the
   * current length, then cut or continued): the library and the views then show
   * the schedule the run really followed (resume-length.ts).
   */
  private lengthPatch(
    run: RunRecord,
    override: { backend?: string; epochs?: number; keepSchedule?: boolean },
  ): { backend?: string; epochs?: number; schedule?: unknown; fit?: undefined } {
    const { keepSchedule, ...patch } = override;
    if (override.epochs === undefined) return patch;
    const trained = run.resumeEpoch === null ? 0 : run.resumeEpoch + 1;
    const env = run.environment as { dataset?: { train?: number } };
    const datasetSize =
      env.dataset?.train ??
      run.spec.trainLimit ??
      (DATASET_TRAIN_SIZES as Record<string, number>)[run.spec.dataset] ??
      50_000;
    let change: ReturnType<typeof resumeLengthChange>;
    try {
      change = resumeLengthChange(run.spec, override.epochs, trained, datasetSize);
    } catch (err) {
      // A schedule that does not compile: training will say why; nothing to keep here.
      if (!keepSchedule) return patch;
      throw new ServiceError(
        "invalid-params",
        `override.keepSchedule: run ${run.id}'s schedule does not compile (${(err as Error).message}), so there is no schedule as trained to keep`,
        "override.keepSchedule",
      );
    }
    if (change.currentEpochs === override.epochs) return patch;
    if (keepSchedule) return { ...patch, schedule: change.asTrained, fit: undefined };
    if (!change.changesTrained || trained === 0) return patch;
    const how =
      change.mode === "relative"
        ? "is relative to the run's length"
        : "was fitted to the run's length";
    throw new ServiceError(
      "invalid-params",
      `override.epochs: run ${run.id}'s schedule ${how}: its ${plural(trained, "epoch")} trained followed its shape over ${plural(change.currentEpochs, "epoch")}; ${override.epochs} epochs would recompile the whole shape for ${override.epochs}, and the run would show a schedule its trained epochs never followed. Either keep the schedule as trained (its ${change.currentEpochs}-epoch shape, ${override.epochs > change.currentEpochs ? "continued past its end" : "cut"} at ${override.epochs} epochs: override.keepSchedule), or start a new run of ${override.epochs} epochs for the whole shape`,
      "override.keepSchedule",
    );
  }

  stop(id: string): void {
    const run = this.store.getRun(id);
    const active = this.active.get(run.id);
    if (active) {
      active.handle.stop();
      return;
    }
    if (run.status === "queued") {
      this.store.setStatus(run.id, "stopped");
      this.emit({ type: "run.status", runId: run.id, status: "stopped" });
      this.queueChanged();
      return;
    }
    throw new ServiceError("conflict", this.notHere(run));
  }

  /** Deletes a run; returns the folder removed from the home and checkpoint folders left outside it. */
  delete(id: string): { removed: string[]; kept: string[] } {
    const run = this.store.getRun(id);
    if (this.active.has(run.id))
      throw new ServiceError("conflict", `run ${run.id} is training; stop it first`);
    const { removed, kept } = this.store.deleteRun(run.id);
    this.queueChanged();
    return { removed, kept };
  }

  /** Resolves when the run has a final status in the library (what the CLI's train waits for). */
  whenFinished(id: string): Promise<RunRecord> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.active.has(id)) return false;
        resolve(this.store.getRun(id));
        return true;
      };
      if (check()) return;
      this.finishWaiters.push({ id, check });
    });
  }

  private finishWaiters: { id: string; check: () => boolean }[] = [];

  private activeRun(id: string): Active {
    const run = this.store.getRun(id);
    const active = this.active.get(run.id);
    if (!active) throw new ServiceError("conflict", this.notHere(run));
    return active;
  }

  private notHere(run: RunRecord): string {
    if (run.owner && run.owner.pid !== this.owner.pid)
      return `run ${run.id} is ${run.status} in another process (pid ${run.owner.pid} on ${run.owner.host}); control it there`;
    return `run ${run.id} is ${run.status}, not training`;
  }

  private requireTrusted(what: string): void {
    if (!this.options.trusted)
      throw new ServiceError("invalid-params", `${what} is only available from the command line`);
  }

  /**
   * The paths a spec may carry: checkpoints always live in the library;
   * untrusted callers name datasets (no paths) and keep dataDir in the home.
   */
  private checkSpec(input: Record<string, unknown>): Record<string, unknown> {
    const spec = { ...input };
    if (spec.checkpointDir !== undefined)
      throw new ServiceError(
        "invalid-params",
        `spec.checkpointDir: checkpoints always live in the library (${join(this.store.home, "runs", "<id>", "checkpoints")}); remove the field`,
        "spec.checkpointDir",
      );
    if (this.options.trusted) return spec;
    const dataset = spec.dataset;
    if (typeof dataset === "string" && !(DATASET_NAMES as readonly string[]).includes(dataset))
      throw new ServiceError(
        "invalid-params",
        `spec.dataset: "${dataset}" is not one of ${DATASET_NAMES.join(", ")}; files elsewhere can be trained on from the command line (sgd-studio train --dataset <path>)`,
        "spec.dataset",
      );
    const dataDir = spec.dataDir;
    if (dataDir !== undefined) {
      const home = this.store.home;
      const abs = typeof dataDir === "string" ? resolve(home, dataDir) : null;
      if (abs === null || !isInside(home, abs))
        throw new ServiceError(
          "invalid-params",
          `spec.dataDir: must be a folder inside the SGD Studio home (${home}); given relative to it, e.g. "datasets"`,
          "spec.dataDir",
        );
      spec.dataDir = abs;
    }
    return spec;
  }

  /** Claims and starts queued runs while this host has room. */
  private pump(): void {
    if (this.closed || !this.takesQueue()) return;
    try {
      while (this.active.size < (this.options.concurrency ?? 1)) {
        const run = this.store.claimNext(this.owner, this.leaseMs, this.options.claimFilter);
        if (!run) break;
        this.launch(run);
      }
    } catch (err) {
      // A busy library: try again shortly (never block the event loop waiting for it).
      if (!this.pumpRetry) {
        this.pumpRetry = setTimeout(() => {
          this.pumpRetry = null;
          this.pump();
        }, 500);
        this.pumpRetry.unref();
      }
      if (!isBusyError(err)) throw err;
    }
  }

  /** Trains a run this host has claimed. */
  private launch(run: RunRecord): void {
    const id = run.id;
    const dir = run.checkpointDir ?? join(this.store.home, "runs", id, "checkpoints");
    removeStaleTemporaries(dir);
    const point = this.store.resumePoint(id);
    const recorder = this.store.recorder(id, {
      owner: this.owner,
      writeTimeoutMs: this.writeTimeoutMs,
      onWriteFailure: (err) => this.writeFailed(id, err),
    });
    const spec = { ...run.spec, checkpointDir: dir } as TrainSpecInput;
    const handle = this.options.launch(spec, {
      resumeFrom: point?.path,
      onEvent: (event) => this.onEvent(id, recorder, event),
      run: { id, attempt: run.attempt },
    });
    this.active.set(id, { id, handle, recorder });
    this.emit({ type: "run.status", runId: id, status: "running" });
    this.queueChanged();
    handle.done.then(
      () => this.settle(id),
      (err: Error & { code?: TrainingErrorCode; at?: { step?: number; epoch?: number } }) => {
        const code = err.code ?? "internal";
        const error = { code, message: err.message, ...err.at };
        recorder.finish(INTERRUPTING_ERRORS.includes(code) ? "interrupted" : "failed", error);
        this.settle(id);
      },
    );
  }

  private onEvent(id: string, recorder: RunRecorder, event: TrainEvent): void {
    const active = this.active.get(id);
    if (active?.verdict) return;
    if (active && (event.type === "summary" || event.type === "error")) active.reported = true;
    recorder.record(event);
    this.emit({ type: "run.event", runId: id, event });
    if (event.type === "paused" || event.type === "resumed") {
      this.emit({
        type: "run.status",
        runId: id,
        status: event.type === "paused" ? "paused" : "running",
      });
    }
  }

  /** The library refused the run's writes for good: stop training it; it is interrupted. */
  private writeFailed(id: string, err: Error): void {
    const active = this.active.get(id);
    if (!active || active.verdict) return;
    const code = (err as { code?: string }).code;
    const lost = code === "lost-claim";
    // SQLite's own words ("database or disk is full") do not say what to do.
    const full = code === "SQLITE_FULL" || /SQLITE_FULL|database or disk is full/.test(err.message);
    active.verdict = {
      status: "interrupted",
      code: lost ? "lost-claim" : full ? "disk-full" : "library-unwritable",
      message: lost
        ? err.message
        : full
          ? `the disk is full: the library could not record this run any more (${err.message}); free some space and resume the run (it continues from its last checkpoint)`
          : `recording stopped: ${err.message}`,
    };
    active.handle.kill("SIGKILL");
    if (!lost)
      this.unwritten.set(id, { code: active.verdict.code, message: active.verdict.message });
  }

  /** After the worker's verdict: wait for the library to hold it, then report and move on. */
  private async settle(id: string): Promise<void> {
    const active = this.active.get(id);
    if (!active) return;
    try {
      await active.recorder.whenIdle();
    } catch {
      // writeFailed has set the verdict; the heartbeat writes it once the library allows.
    }
    active.recorder.close();
    this.active.delete(id);
    if (active.verdict) this.retryUnwritten();
    const run = this.store.findRun(id);
    const status = active.verdict?.status ?? run?.status ?? "interrupted";
    const error = active.verdict?.message ?? run?.error?.message;
    this.emit({ type: "run.status", runId: id, status, ...(error ? { error } : {}) });
    this.queueChanged();
    this.finishWaiters = this.finishWaiters.filter((w) => !(w.id === id && w.check()));
    this.pump();
  }

  /** Writes verdicts that a locked library refused earlier. */
  private retryUnwritten(): void {
    for (const [id, error] of this.unwritten) {
      try {
        if (this.active.has(id)) continue;
        this.store.setStatus(id, "interrupted", { error, owner: this.owner });
        this.unwritten.delete(id);
      } catch (err) {
        if (!isBusyError(err)) this.unwritten.delete(id);
      }
    }
  }

  /** Renews this host's leases, kills runs whose claim it lost, and recovers abandoned runs. */
  private heartbeat(): void {
    if (this.closed) return;
    try {
      const held = new Set(this.store.renewLeases(this.owner, this.leaseMs));
      for (const [id, active] of this.active) {
        if (held.has(id) || active.verdict || active.reported) continue;
        active.verdict = {
          status: "interrupted",
          code: "lost-claim",
          message: `run ${id} was taken over: its lease expired and it was marked interrupted`,
        };
        active.handle.kill("SIGKILL");
      }
      this.retryUnwritten();
      for (const id of this.store.recoverInterrupted()) {
        const run = this.store.findRun(id);
        this.emit({
          type: "run.status",
          runId: id,
          status: "interrupted",
          error: run?.error?.message,
        });
      }
    } catch (err) {
      if (!isBusyError(err)) process.emitWarning(`run library: ${(err as Error).message}`);
    }
    this.pump();
  }

  // ---- for sweeps (core/service/sweeps.ts), which add queued runs to the library themselves ----

  /** A run spec checked and resolved as `runs.start` does (paths, preset names), for a run queued by other means. */
  prepareSpec(input: Record<string, unknown>): Record<string, unknown> {
    const spec = this.checkSpec(input);
    spec.schedule = resolveSchedule(spec.schedule);
    return spec;
  }

  /** Runs were queued (or their sweep resumed) behind the manager's back: announce the queue and take it. */
  queued(): void {
    this.queueChanged();
    this.pump();
  }

  /** Whether this host is training the run now. */
  trains(id: string): boolean {
    return this.active.has(id);
  }

  private queueChanged(): void {
    this.emit({ type: "queue.changed", queue: this.queue() });
  }

  /**
   * Stops every run this host trains (each keeps its last checkpoint), waits
   * up to `graceMs` for their verdicts, kills what is left (interrupted,
   * resumable), and closes the library.
   */
  async close(graceMs = 15_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.pumpRetry) clearTimeout(this.pumpRetry);
    const running = [...this.active.values()];
    for (const a of running) a.handle.stop();
    const settled = Promise.all(running.map((a) => a.handle.done.catch(() => {})));
    let timeout: NodeJS.Timeout | undefined;
    const grace = new Promise((r) => {
      timeout = setTimeout(r, graceMs);
    });
    await Promise.race([settled, grace]);
    clearTimeout(timeout);
    for (const a of this.active.values()) a.handle.kill("SIGKILL");
    await Promise.all(running.map((a) => a.handle.done.catch(() => {})));
    // Let the settle() of each run write its verdict.
    await Promise.all(running.map((a) => a.recorder.whenIdle().catch(() => {})));
    await new Promise((r) => setImmediate(r));
    this.retryUnwritten();
    this.store.close();
  }
}

function isBusyError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code === "busy");
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
