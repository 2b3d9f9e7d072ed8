/**
 * "Train with this schedule": the designer hands its document to the Run
 * view. Module state, because both views live in one page and the Run view
 * is created fresh when the user switches to it. Kept until replaced, so the
 * Run view still offers it after a run (to train it again or queue another).
 */
import type { Doc } from "../designer/types";

let handed: Doc | null = null;

/** Called by the designer; a copy, so later edits there do not change it. */
export function handScheduleToRun(doc: Doc): void {
  handed = structuredClone(doc);
}

/** The schedule the designer handed over, if any. */
export function handedSchedule(): Doc | null {
  return handed;
}
