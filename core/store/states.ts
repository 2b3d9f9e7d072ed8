/**
 * Run states and the transitions between them.
 *
 *   queued ──> running <──> paused
 *     │          │  └──────────┴──> completed | stopped | failed | interrupted
 *     └──> stopped | failed
 *   stopped, interrupted ──> queued | running      (resume from the last checkpoint)
 *   completed, failed: final
 *
 * `interrupted` is set only by recovery: a run found `running` or `paused`
 * whose recording process is gone (see RunStore.recoverInterrupted).
 * Setting a run to the state it is already in is a no-op.
 */
import { StoreError } from "./errors.js";

export const RUN_STATUSES = [
  "queued",
  "running",
  "paused",
  "completed",
  "stopped",
  "failed",
  "interrupted",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  queued: ["running", "stopped", "failed"],
  running: ["paused", "completed", "stopped", "failed", "interrupted"],
  paused: ["running", "stopped", "failed", "interrupted"],
  completed: [],
  stopped: ["queued", "running"],
  failed: [],
  interrupted: ["queued", "running"],
};

/** States a run can be resumed from (from its last checkpoint). */
export const RESUMABLE: readonly RunStatus[] = ["stopped", "interrupted"];
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
