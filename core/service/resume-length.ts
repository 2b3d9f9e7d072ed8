/**
 * Resuming a run for another number of epochs: would the new length change
 * the schedule of the epochs already trained?
 *
 * A schedule relative to the run (the presets) or an epoch-time one fitted to
 * it is compiled for the run's length: its whole shape moves with the length.
 * Resumed for a new length, it would be recompiled, so the library, the Run
 * view and the preview would show a schedule the trained epochs never
 * followed. The run manager refuses that unless the caller chooses to keep the
 * schedule as trained: the schedule compiled for the run's current length
 * (epoch-time, so its prefix is what was trained), cut or continued to the new
 * length.
 */
import type { TrainSpec } from "../api/spec.js";
import { compileSchedule, parseSchedule, type Schedule } from "../schedule/index.js";

export interface LengthChange {
  /** The run's length before the change. */
  currentEpochs: number;
  /** True when the new length changes the LR or batch size of a trained step. */
  changesTrained: boolean;
  /** The schedule as trained: compiled for the current length, in epoch time, to be cut or continued. */
  asTrained: Schedule;
  /** How the schedule meets the run: "relative" or "fit" (the shape moves with the length), "exact", ... */
  mode: string;
}

export function resumeLengthChange(
  spec: Pick<TrainSpec, "schedule" | "epochs" | "fit">,
  newEpochs: number,
  trainedEpochs: number,
  datasetSize: number,
): LengthChange {
  const schedule = parseSchedule(spec.schedule, "schedule");
  const before = compileSchedule(schedule, { datasetSize, epochs: spec.epochs, fit: spec.fit });
  const after = compileSchedule(schedule, { datasetSize, epochs: newEpochs, fit: spec.fit });
  const epochs = Math.min(trainedEpochs, before.epochs.length, after.epochs.length);
  let steps = 0;
  for (let e = 0; e < epochs; e++) steps += (before.epochs[e] as { steps: number }).steps;
  let changesTrained = false;
  for (let e = 0; e < epochs && !changesTrained; e++) {
    const [a, b] = [before.epochs[e], after.epochs[e]];
    changesTrained = a?.batchSize !== b?.batchSize || a?.steps !== b?.steps;
  }
  for (let k = 0; k < steps && !changesTrained; k++)
    changesTrained = before.steps.lr[k] !== after.steps.lr[k];
  return {
    currentEpochs: before.totals.epochs,
    changesTrained,
    asTrained: before.schedule,
    mode: before.length.mode,
  };
}
