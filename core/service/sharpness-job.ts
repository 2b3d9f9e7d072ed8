/**
 * `runs.sharpness`: the sharpness of a finished run's model, on demand
 * (docs/sharpness.md). The run's resume checkpoint (the last epoch whose
 * metrics and checkpoint are both in the library) is measured in a worker
 * process started by the host's own launcher (fork, or Electron's utility
 * process), which streams progress as `run.event`s; the values are recorded
 * as the run's metrics at that epoch's end (sharpness, sharpnessL2,
 * sharpnessOneStep) with their settings in the run's environment, exactly as
 * when the trainer measures at the end of a run. The run's status does not
 * change. One measurement per run at a time.
 */
import type { ParsedParams, Results, ServiceEvent } from "../api/contract.js";
import { ServiceError } from "../api/contract.js";
import type { SharpnessEvent } from "../api/events.js";
import type { RunStatus } from "../api/lists.js";
import { TrainingError } from "../engine/events.js";
import type { TrainingLauncher } from "../engine/worker-client.js";
import type { RunStore } from "../store/store.js";

/** Runs whose model is final (nothing will train it further unless they are resumed). */
const MEASURABLE: readonly RunStatus[] = ["completed", "stopped", "failed", "interrupted"];

const busy = new Set<string>();

export async function runSharpness(
  store: RunStore,
  launch: TrainingLauncher,
  emit: (event: ServiceEvent) => void,
  params: ParsedParams<"runs.sharpness">,
): Promise<Results["runs.sharpness"]> {
  const run = store.getRun(params.id);
  if (!MEASURABLE.includes(run.status)) {
    throw new ServiceError(
      "conflict",
      `run ${run.id} is ${run.status}: measure its sharpness once it has finished, or ask for it at the end of training (spec.sharpness)`,
    );
  }
  const point = store.resumePoint(run.id);
  if (!point) {
    throw new ServiceError(
      "conflict",
      `run ${run.id} has no checkpoint in the library to measure (runs keep one after every epoch; this one finished no epoch, or its checkpoint folder is gone)`,
    );
  }
  const key = `${store.paths.db}\n${run.id}`;
  if (busy.has(key)) {
    throw new ServiceError(
      "conflict",
      `the sharpness of run ${run.id} is being measured already; wait for it`,
    );
  }
  busy.add(key);
  try {
    const { id: _id, backend, ...settings } = params;
    const spec = { ...run.spec, ...(backend ? { backend } : {}) };
    let result: SharpnessEvent | null = null;
    let failure: string | null = null;
    const handle = launch(spec, {
      sharpness: { checkpoint: point.path, settings },
      onEvent: (event) => {
        if (event.type === "sharpness") {
          if (event.values) result = event;
          if (event.error) failure = event.error;
          emit({ type: "run.event", runId: run.id, event });
        }
      },
    });
    try {
      await handle.done;
    } catch (err) {
      const message = err instanceof TrainingError ? err.message : (err as Error).message;
      throw new ServiceError("internal", `sharpness of run ${run.id}: ${failure ?? message}`);
    }
    const measured = result as SharpnessEvent | null;
    if (!measured?.values) {
      throw new ServiceError(
        "internal",
        `sharpness of run ${run.id}: ${failure ?? "the worker ended without a value"}`,
      );
    }
    // Recorded like the trainer's values, without touching the run's status or progress.
    const recorder = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0, clock: () => 0 });
    try {
      recorder.record(measured);
      recorder.flush();
      await recorder.whenIdle();
    } finally {
      recorder.close();
    }
    return {
      id: run.id,
      epoch: measured.epoch,
      values: measured.values,
      backend: measured.backend ?? null,
      seconds: measured.seconds ?? null,
    };
  } finally {
    busy.delete(key);
  }
}
