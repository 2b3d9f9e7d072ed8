/**
 * The run's clock. Families are written in epochs; some (one-cycle) are defined
 * by PyTorch over a count of scheduler steps, so the timeline converts epochs to
 * "units": epochs when the LR is evaluated per epoch, optimizer steps when it is
 * evaluated per step (using the real, possibly varying, steps of each epoch).
 */
export class Timeline {
  /** cumulative[e] = steps taken before epoch e; length epochs + 1. */
  private readonly cumulative: Float64Array;

  constructor(
    readonly per: "epoch" | "step",
    readonly stepsPerEpoch: ArrayLike<number>,
  ) {
    const n = stepsPerEpoch.length;
    this.cumulative = new Float64Array(n + 1);
    for (let e = 0; e < n; e++) {
      this.cumulative[e + 1] = (this.cumulative[e] as number) + (stepsPerEpoch[e] as number);
    }
  }

  get epochs(): number {
    return this.stepsPerEpoch.length;
  }

  /** Units elapsed at fractional epoch t (from the start of the run). */
  unitsAt(t: number): number {
    if (this.per === "epoch") return t;
    const n = this.stepsPerEpoch.length;
    if (t >= n) {
      // Past the end: extend with the last epoch's step count.
      const last = n > 0 ? (this.stepsPerEpoch[n - 1] as number) : 1;
      return (this.cumulative[n] as number) + (t - n) * last;
    }
    const e = Math.floor(t);
    return (this.cumulative[e] as number) + (t - e) * (this.stepsPerEpoch[e] as number);
  }
}
