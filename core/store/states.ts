/**
 * Run states and the transitions between them.
 *
 *   queued ──> running <──> paused
 *     │          │  └──────────┴──> completed | stopped | failed | interrupted
 *     └──> stopped | failed
 *   stopped, interrupted, failed ──> queued | running   (resume from the last checkpoint)
 *   completed: final
 *
 * `running` is set when a host claims the run (see RunStore.claimNext) and
 * holds its lease. `interrupted` means the training process ended without a
 * verdict (killed, out of memory, disk full, the host gone or its lease
 * expired, the library unwritable): resuming continues from the last
 * checkpoint. `failed` is for errors a resume would meet again (NaN loss, bad
 * data); a failed run with a checkpoint can still be resumed on request.
 * Setting a run to the state it is already in is a no-op.
 */
import { RESUMABLE_STATUSES, RUN_STATUSES, type RunStatus } from "../api/lists.js";
import { StoreError } from "./errors.js";

/** The list of states is declared in core/api/lists.ts. */
export { RUN_STATUSES, type RunStatus };

export const TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  queued: ["running", "stopped", "failed"],
  running: ["paused", "completed", "stopped", "failed", "interrupted"],
  paused: ["running", "stopped", "failed", "interrupted"],
  completed: [],
  stopped: ["queued", "running"],
  failed: ["queued", "running"],
  interrupted: ["queued", "running"],
};

/** States a run can be resumed from (from its last checkpoint). */
export const RESUMABLE: readonly RunStatus[] = RESUMABLE_STATUSES;
/** States in which a process is (or was) training the run. */
export const ACTIVE: readonly RunStatus[] = ["running", "paused"];
export const FINISHED: readonly RunStatus[] = ["completed", "stopped", "failed", "interrupted"];

export function isRunStatus(s: string): s is RunStatus {
  return (RUN_STATUSES as readonly string[]).includes(s);
}

export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

export function assertTransition(id: string, from: RunStatus, to: RunStatus): void {
  if (canTransition(from, to)) return;
  const allowed = TRANSITIONS[from];
  throw new StoreError(
    "illegal-transition",
    `run ${id} cannot go from ${from} to ${to} (from ${from} it can go to ${allowed.length ? allowed.join(", ") : "nothing: it is final"})`,
  );
}
