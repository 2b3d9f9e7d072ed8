/**
 * The `runs.*` methods of the service, over the RunManager (run-manager.ts:
 * the durable queue, claims and leases, verdicts) and the run library.
 */
import { isBusy, StoreError } from "../store/errors.js";
import { fileFailure } from "../store/schema.js";
import type { RunRecord } from "../store/store.js";
import { csvChunks, exportDocument } from "../store/transfer.js";
import { type RunSummary, ServiceError, type ServiceEvent } from "./contract.js";
import { RunManager, type RunManagerOptions } from "./run-manager.js";
import type { RunMethods } from "./service.js";
import { runSharpness } from "./sharpness-job.js";
import { sweepMethods } from "./sweeps.js";

export { RunManager, type RunManagerOptions };
export type { TrainingLauncher } from "../engine/worker-client.js";

function summary(run: RunRecord): RunSummary {
  const given = (run.environment as { displayName?: unknown }).displayName;
  return { ...run, name: typeof given === "string" && given ? given : run.scheduleName };
}

/**
 * Maps library errors onto the service's codes; a damaged or read-only
 * library file found after it opened gets the same message as at open
 * (the file and the fix).
 */
function mapErrors<T>(fn: () => T, file: string): T {
  try {
    return fn();
  } catch (caught) {
    const err = fileFailure(file, caught) ?? caught;
    if (err instanceof StoreError) {
      const code =
        err.code === "not-found"
          ? "not-found"
          : ["duplicate", "illegal-transition", "ambiguous-id", "busy", "lost-claim"].includes(
                err.code,
              )
            ? "conflict"
            : ["open", "read-only", "corrupt"].includes(err.code)
              ? "internal"
              : "invalid-params";
      throw new ServiceError(code, err.message);
    }
    if (isBusy(err))
      throw new ServiceError(
        "conflict",
        "the run library is locked by another process (another SGD Studio, or a sqlite3 shell with an open write); try again",
      );
    throw err;
  }
}

/** The `runs.*` handlers over a RunManager, for `new Service({ runs })`. */
export function runMethods(
  options: RunManagerOptions,
): (emit: (event: ServiceEvent) => void) => RunMethods {
  return (emit) => {
    const m = new RunManager(options, emit);
    const wrap = <T>(fn: () => T): T => mapErrors(fn, m.store.paths.db);
    /** wrap for a handler that may return a promise: its rejection is mapped too. */
    const wrapAsync = async (fn: () => unknown): Promise<unknown> => {
      const result = wrap(fn);
      if (!(result instanceof Promise)) return result;
      try {
        return await result;
      } catch (err) {
        return wrap(() => {
          throw err;
        });
      }
    };
    const ok = { ok: true } as const;
    const sweeps = sweepMethods(m, options.launch, emit);
    const done = (fn: () => unknown) =>
      wrap(() => {
        fn();
        return ok;
      });
    return {
      manager: m,
      close: () => m.close(),
      handlers: {
        "runs.start": (p) => wrap(() => m.start(p)),
        "runs.pause": (p) => done(() => m.pause(p.id)),
        "runs.resume": (p) => done(() => m.resume(p.id, p.here, p.override)),
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
                  ? [
                      r.id,
                      summary(r).name,
                      r.scheduleName,
                      r.model,
                      r.dataset,
                      r.backend,
                      r.note,
                      ...r.tags,
                    ].some((f) => f?.toLowerCase().includes(q))
                  : true,
              )
              .map(summary);
          }),
        "runs.get": (p) =>
          wrap(() => {
            const run = m.store.getRun(p.id);
            const keys = m.store.metricKeys(run.id);
            return {
              ...summary(run),
              checkpoints: m.store.checkpoints(run.id),
              keys,
              resume: m.store.resumePoint(run.id),
              ...(p.stats ? { stats: keys.map((k) => m.store.bestAndFinal(run.id, k.key)) } : {}),
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
        "runs.queue": () => ({ queue: m.queue() }),
        "runs.queue.move": (p) => wrap(() => ({ queue: m.moveInQueue(p.id, p.position) })),
        "runs.tag": (p) => done(() => m.store.tag(p.id, p.tag)),
        "runs.untag": (p) => done(() => m.store.untag(p.id, p.tag)),
        "runs.note": (p) => done(() => m.store.setNote(p.id, p.note || null)),
        "runs.rename": (p) => done(() => m.store.rename(p.id, p.name || null)),
        "runs.delete": (p) => wrap(() => ({ ...ok, ...m.delete(p.id) })),
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
        "runs.sharpness": (p) => runSharpness(m.store, options.launch, emit, p),
        // The sweeps' handlers, with the same mapping of library errors.
        ...(Object.fromEntries(
          Object.entries(sweeps).map(([name, fn]) => [
            name,
            (p: never) => wrapAsync(() => (fn as (p: never) => unknown)(p)),
          ]),
        ) as typeof sweeps),
      },
    };
  };
}
