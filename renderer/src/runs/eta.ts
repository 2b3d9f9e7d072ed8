/**
 * The Run view's ETA: remaining steps times a steady-state step time, plus the
 * remaining epochs' evaluations. The step time is the median of the latest
 * intervals between consecutive steps of the same epoch, seen while the run
 * was running; an interval that spans an epoch end (evaluation, checkpoint) is
 * counted as evaluation time instead, and one that spans a pause or a
 * re-attachment is dropped. `reset()` (re-attaching, a new run) forgets all.
 * Paused, stopped or finished runs have no ETA (null, shown as "-").
 */

/** Intervals kept for the median: recent enough to follow a batch-size change. */
const WINDOW = 64;

export class EtaEstimator {
  private stepTimes: number[] = [];
  private evalTimes: number[] = [];
  private last: { step: number; epoch: number; t: number } | null = null;
  private running = true;

  reset(): void {
    this.stepTimes = [];
    this.evalTimes = [];
    this.last = null;
    this.running = true;
  }

  /** The run was paused, stopped, resumed or re-attached: the next interval is not a step's. */
  interrupt(running: boolean): void {
    this.last = null;
    this.running = running;
  }

  /** A step event (0-based step and epoch) seen at time t (seconds). */
  step(step: number, epoch: number, t: number): void {
    this.running = true;
    const prev = this.last;
    this.last = { step, epoch, t };
    if (!prev || step <= prev.step) return;
    const dt = (t - prev.t) / (step - prev.step);
    if (!(dt >= 0) || !Number.isFinite(dt)) return;
    if (epoch === prev.epoch) push(this.stepTimes, dt);
    else if (step === prev.step + 1 && epoch === prev.epoch + 1) {
      // One step, then the evaluation and checkpoint: the evaluation is the excess over a step.
      const typical = median(this.stepTimes);
      if (typical !== null) push(this.evalTimes, Math.max(0, t - prev.t - typical));
    }
  }

  /** Seconds left, or null when unknown (too few steps yet) or not running. */
  remaining(p: {
    step: number;
    totalSteps: number;
    epoch: number;
    totalEpochs: number;
  }): number | null {
    if (!this.running) return null;
    const perStep = median(this.stepTimes);
    if (perStep === null || this.stepTimes.length < 3) return null;
    const steps = Math.max(0, p.totalSteps - p.step);
    // The current epoch's evaluation is still ahead, and every later epoch's.
    const evals = Math.max(0, p.totalEpochs - p.epoch);
    const perEval = median(this.evalTimes) ?? 0;
    return steps * perStep + evals * perEval;
  }
}

function push(list: number[], x: number): void {
  list.push(x);
  if (list.length > WINDOW) list.shift();
}

function median(list: readonly number[]): number | null {
  if (list.length === 0) return null;
  const s = [...list].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
