/**
 * The shared time axis of the lanes: epochs, optimizer steps or samples seen.
 *
 * Keyframes and every duration of a schedule are in epochs; the chart may show
 * steps or samples instead, and those do not grow evenly with epochs when the
 * batch size changes (an epoch of batch 1024 has an eighth of the steps of an
 * epoch of batch 128). The mapping is piecewise linear between epoch
 * boundaries, built from the compiled per-epoch table (steps per epoch and
 * cumulative samples).
 */

export type AxisUnit = "epochs" | "steps" | "samples";

export const AXIS_UNITS: readonly AxisUnit[] = ["epochs", "steps", "samples"];

/** What the axis needs of a compiled epoch row (core's EpochRow has these). */
export interface EpochShape {
  steps: number;
  /** Samples processed by the end of the epoch, cumulative. */
  samples: number;
}

export class TimeAxis {
  readonly epochs: number;
  /** Value of each unit at the start of epoch e, e = 0..E (E+1 entries). */
  private readonly starts: Record<AxisUnit, Float64Array>;

  constructor(rows: readonly EpochShape[]) {
    if (rows.length === 0) throw new Error("TimeAxis: no epochs");
    const E = rows.length;
    this.epochs = E;
    const epochs = new Float64Array(E + 1);
    const steps = new Float64Array(E + 1);
    const samples = new Float64Array(E + 1);
    for (let e = 0; e < E; e++) {
      const row = rows[e] as EpochShape;
      epochs[e + 1] = e + 1;
      steps[e + 1] = (steps[e] as number) + row.steps;
      samples[e + 1] = row.samples;
    }
    this.starts = { epochs, steps, samples };
  }

  /** An axis for E epochs of N samples at a constant batch size (before the first compile). */
  static uniform(epochs: number, datasetSize: number, batchSize: number): TimeAxis {
    const steps = Math.ceil(datasetSize / batchSize);
    return new TimeAxis(
      Array.from({ length: Math.max(1, epochs) }, (_, e) => ({
        steps,
        samples: (e + 1) * datasetSize,
      })),
    );
  }

  /** The end of the run in a unit. */
  end(unit: AxisUnit): number {
    return this.starts[unit][this.epochs] as number;
  }

  /** Epoch boundaries (0..E) in a unit. */
  boundaries(unit: AxisUnit): number[] {
    return Array.from(this.starts[unit]);
  }

  /** Time t in epochs (fractional) -> the unit. Clamped to [0, E]. */
  fromEpoch(t: number, unit: AxisUnit): number {
    if (unit === "epochs") return Math.min(Math.max(t, 0), this.epochs);
    const s = this.starts[unit];
    if (!(t > 0)) return 0;
    if (t >= this.epochs) return s[this.epochs] as number;
    const e = Math.floor(t);
    const a = s[e] as number;
    return a + (t - e) * ((s[e + 1] as number) - a);
  }

  /** A position in a unit -> time in epochs (fractional). Clamped to [0, E]. */
  toEpoch(x: number, unit: AxisUnit): number {
    if (unit === "epochs") return Math.min(Math.max(x, 0), this.epochs);
    const s = this.starts[unit];
    if (!(x > 0)) return 0;
    if (x >= (s[this.epochs] as number)) return this.epochs;
    // Last epoch whose start is at or before x.
    let lo = 0;
    let hi = this.epochs - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((s[mid] as number) <= x) lo = mid;
      else hi = mid - 1;
    }
    const a = s[lo] as number;
    const width = (s[lo + 1] as number) - a;
    return lo + (width > 0 ? (x - a) / width : 0);
  }

  /** Converts between units through epochs. */
  convert(x: number, from: AxisUnit, to: AxisUnit): number {
    return from === to ? x : this.fromEpoch(this.toEpoch(x, from), to);
  }
}

/** A compact label for a position on the axis: 12.5 (epochs), 15,640 (steps), 2.35M (samples). */
export function formatAxisValue(x: number, unit: AxisUnit): string {
  if (unit === "epochs") return String(Number(x.toFixed(2)));
  if (unit === "steps") return Math.round(x).toLocaleString("en-US");
  return compactCount(x);
}

/** 950, 12.5k, 2.35M, 1.2G. */
export function compactCount(x: number): string {
  const a = Math.abs(x);
  if (a >= 1e9) return `${Number((x / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((x / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((x / 1e3).toPrecision(3))}k`;
  return String(Math.round(x));
}

/** The same moment in all three units, for tooltips: "epoch 40 · step 15,640 · 2M samples". */
export function describeTime(axis: TimeAxis, epoch: number): string {
  const step = axis.fromEpoch(epoch, "steps");
  const samples = axis.fromEpoch(epoch, "samples");
  return `epoch ${Number(epoch.toFixed(3))} · step ${Math.round(step).toLocaleString("en-US")} · ${compactCount(samples)} samples`;
}
