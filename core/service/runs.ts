/**
 * The run methods of the service: a queue that trains one run at a time in a
 * worker process, recording every event into the run library.
 *
 * The queue is the library's `queued` runs (oldest first unless the user
 * reordered them; the order is kept in the library too), so it survives a
 * restart; a run left `running` by a crash is marked `interrupted` when the
 * library opens and can be resumed from its last checkpoint.
 */
import type { TrainSpecInput } from "../engine/events.js";
import type { StartOptions, TrainingHandle } from "../engine/worker-client.js";
import { StoreError } from "../store/errors.js";
import type { RunRecorder } from "../store/recorder.js";
import { type RunRecord, RunStore } from "../store/store.js";
import { csvChunks, exportDocument } from "../store/transfer.js";
import { type ParsedParams, type RunSummary, ServiceError, type ServiceEvent } from "./contract.js";
import { resolveSchedule } from "./schedules.js";
import type { RunMethods } from "./service.js";

/** Starts training in some process: child_process in Node, utilityProcess in Electron. */
export type TrainingLauncher = (spec: TrainSpecInput, options: StartOptions) => TrainingHandle;

export interface RunManagerOptions {
  home: string;
  launch: TrainingLauncher;
  /** Start queued runs at once (default true; tests may hold the queue). */
  autoStart?: boolean;
}

interface Active {
  id: string;
  handle: TrainingHandle;
  recorder: RunRecorder;
}

export class RunManager {
  readonly store: RunStore;
  private active: Active | null = null;
  /** Checkpoint to resume from, for queued runs that continue an earlier attempt. */
  private readonly resumeFrom = new Map<string, string>();
  private closed = false;

  constructor(
    private readonly options: RunManagerOptions,
    private readonly emit: (event: ServiceEvent) => void,
  ) {
    this.store = RunStore.open(options.home);
    if (options.autoStart !== false) queueMicrotask(() => this.pump());
  }

  /**
   * Ids of the queued runs, in the order they will train (the one being
   * launched first): the order set by moveInQueue, kept in the library so it
   * survives a restart, then the other queued runs oldest first.
   */
  queue(): string[] {
    const ids = this.store.queuedRunIds();
    const launching = this.active?.id;
    return launching && ids.includes(launching)
      ? [launching, ...ids.filter((id) => id !== launching)]
      : ids;
  }

  /** The queued runs still waiting: the queue without the run being launched. */
  waiting(): string[] {
    return this.queue().filter((id) => id !== this.active?.id);
  }

  /** Moves a waiting run to `position` among the waiting runs (clamped); returns their new order. */
  moveInQueue(id: string, position: number): string[] {
    const run = this.store.getRun(id);
    const waiting = this.waiting();
    const from = waiting.indexOf(run.id);
    if (from < 0) {
      const what = this.active?.id === run.id ? "starting" : run.status;
      throw new ServiceError("conflict", `run ${run.id} is ${what}, not waiting in the queue`);
    }
    waiting.splice(from, 1);
    waiting.splice(Math.min(position, waiting.length), 0, run.id);
    this.store.setQueueOrder(waiting);
    this.queueChanged();
    return waiting;
  }

  start(p: ParsedParams<"runs.start">): { id: string; position: number } {
    const spec = { ...p.spec } as Record<string, unknown>;
    spec.schedule = resolveSchedule(spec.schedule);
    if (p.name) (spec.schedule as { name?: string }).name = p.name;
    const run = this.store.createRun(spec as unknown as TrainSpecInput);
    this.queueChanged();
    this.pump();
    return { id: run.id, position: this.queue().indexOf(run.id) };
  }

  pause(id: string): void {
    this.activeRun(id).handle.pause();
  }

  resume(id: string): void {
    const run = this.store.getRun(id);
    if (run.status === "paused") {
      this.activeRun(run.id).handle.resume();
      return;
    }
    // A stopped or interrupted run goes back in the queue and continues from its checkpoint.
    const point = this.store.resumePoint(run.id);
    if (!point)
      throw new ServiceError(
        "conflict",
        `run ${run.id} (${run.status}) has no checkpoint to resume from`,
      );
    this.store.setStatus(run.id, "queued");
    this.resumeFrom.set(run.id, point.path);
    this.emit({ type: "run.status", runId: run.id, status: "queued" });
    this.queueChanged();
    this.pump();
  }

  stop(id: string): void {
    const run = this.store.getRun(id);
    if (this.active?.id === run.id) {
      this.active.handle.stop();
      return;
    }
    if (run.status !== "queued")
      throw new ServiceError("conflict", `run ${run.id} is ${run.status}, not running`);
    this.store.setStatus(run.id, "stopped");
    this.emit({ type: "run.status", runId: run.id, status: "stopped" });
    this.queueChanged();
  }

  delete(id: string): void {
    const run = this.store.getRun(id);
    if (this.active?.id === run.id)
      throw new ServiceError("conflict", `run ${run.id} is training; stop it first`);
    this.store.deleteRun(run.id);
    this.queueChanged();
  }

  private activeRun(id: string): Active {
    const run = this.store.getRun(id);
    if (this.active?.id !== run.id)
      throw new ServiceError("conflict", `run ${run.id} is ${run.status}, not training`);
    return this.active;
  }

  /** Starts the next queued run when nothing trains. */
  private pump(): void {
    if (this.closed || this.active || this.options.autoStart === false) return;
    const next = this.queue()[0];
    if (!next) return;
    const run = this.store.getRun(next);
    const recorder = this.store.recorder(run.id);
    const resumeFrom = this.resumeFrom.get(run.id);
    this.resumeFrom.delete(run.id);
    const spec = { ...run.spec, checkpointDir: run.checkpointDir ?? undefined } as TrainSpecInput;
    const handle = this.options.launch(spec, {
      resumeFrom,
      onEvent: (event) => {
        try {
          recorder.record(event);
        } catch (err) {
          this.emit({
            type: "run.status",
            runId: run.id,
            status: "running",
            error: (err as Error).message,
          });
        }
        this.emit({ type: "run.event", runId: run.id, event });
        if (event.type === "start" || event.type === "paused" || event.type === "resumed") {
          this.emit({
            type: "run.status",
            runId: run.id,
            status: event.type === "paused" ? "paused" : "running",
          });
        }
      },
    });
    this.active = { id: run.id, handle, recorder };
    this.queueChanged();
    handle.done.then(
      (summary) => this.finish(run.id, summary.status),
      (err: Error & { code?: string; at?: { step?: number; epoch?: number } }) => {
        recorder.fail({ code: err.code ?? "internal", message: err.message, ...err.at });
        this.finish(run.id, "failed", err.message);
      },
    );
  }

  private finish(id: string, status: RunRecord["status"], error?: string): void {
    this.active?.recorder.close();
    this.active = null;
    this.emit({ type: "run.status", runId: id, status, ...(error ? { error } : {}) });
    this.queueChanged();
    this.pump();
  }

  private queueChanged(): void {
    this.emit({ type: "queue.changed", queue: this.waiting() });
  }

  close(): void {
    this.closed = true;
    this.active?.handle.stop();
    this.store.close();
  }
}

function summary(run: RunRecord): RunSummary {
  return { ...run, name: run.scheduleName };
}

/** Maps library errors onto the service's codes. */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof StoreError) {
      const code =
        err.code === "not-found"
          ? "not-found"
          : err.code === "duplicate" ||
              err.code === "illegal-transition" ||
              err.code === "ambiguous-id"
            ? "conflict"
            : "invalid-params";
      throw new ServiceError(code, err.message);
    }
    throw err;
  }
}

/** The `runs.*` handlers over a RunManager, for `new Service({ runs })`. */
export function runMethods(
  options: RunManagerOptions,
): (emit: (event: ServiceEvent) => void) => RunMethods {
  return (emit) => {
    const m = new RunManager(options, emit);
    const ok = { ok: true } as const;
    const done = (fn: () => unknown) =>
      wrap(() => {
        fn();
        return ok;
      });
    return {
      close: () => m.close(),
      handlers: {
        "runs.start": (p) => wrap(() => m.start(p)),
        "runs.pause": (p) => done(() => m.pause(p.id)),
        "runs.resume": (p) => done(() => m.resume(p.id)),
        "runs.stop": (p) => done(() => m.stop(p.id)),
        "runs.list": (p) =>
          wrap(() => {
            const runs = m.store.listRuns({
              status: p.status as RunRecord["status"][] | undefined,
              tag: p.tag,
            });
            const q = p.search?.toLowerCase();
            return runs
              .filter((r) =>
                q
                  ? [r.id, r.scheduleName, r.model, r.dataset, r.backend, r.note, ...r.tags].some(
                      (f) => f?.toLowerCase().includes(q),
                    )
                  : true,
              )
              .map(summary);
          }),
        "runs.get": (p) =>
          wrap(() => {
            const run = m.store.getRun(p.id);
            return {
              ...summary(run),
              checkpoints: m.store.checkpoints(run.id),
              keys: m.store.metricKeys(run.id),
            };
          }),
        "runs.metrics": (p) =>
          wrap(() =>
            m.store.queryMetrics({
              runIds: p.ids,
              keys: p.keys,
              x: p.x,
              maxPoints: p.maxPoints,
              from: p.from,
              to: p.to,
            }),
          ),
        "runs.queue": () => ({ queue: m.waiting() }),
        "runs.queue.move": (p) => wrap(() => ({ queue: m.moveInQueue(p.id, p.position) })),
        "runs.tag": (p) => done(() => m.store.tag(p.id, p.tag)),
        "runs.untag": (p) => done(() => m.store.untag(p.id, p.tag)),
        "runs.note": (p) => done(() => m.store.setNote(p.id, p.note || null)),
        "runs.delete": (p) => done(() => m.delete(p.id)),
        "runs.export": (p) =>
          wrap(() => {
            const ids = p.ids.map((id) => m.store.resolveId(id));
            const content =
              p.format === "csv"
                ? [...csvChunks(m.store, ids)].join("")
                : `${JSON.stringify(exportDocument(m.store, ids), null, 1)}\n`;
            return {
              content,
              filename: `sgd-studio-runs-${ids.length === 1 ? ids[0] : ids.length}.${p.format}`,
            };
          }),
        "runs.import": (p) =>
          wrap(() => m.store.importRuns(p.content, { duplicates: p.duplicates })),
      },
    };
  };
}
