/** Schedule methods of the service: validate, preview (downsampled for plotting), presets, export. */

import { type ParsedParams, type Results, type Series, ServiceError } from "../api/contract.js";
import {
  compileSchedule,
  findPreset,
  PRESETS,
  parseSchedule,
  type Schedule,
  ScheduleError,
} from "../schedule/index.js";
import { exportPyTorch } from "../schedule/pytorch.js";

/** A schedule given as a document or as a preset name. */
export function resolveSchedule(input: unknown): Schedule {
  if (typeof input === "string") {
    const preset = findPreset(input);
    if (!preset) {
      throw new ServiceError(
        "invalid-schedule",
        `no preset named "${input}"; presets: ${PRESETS.map((p) => p.name).join(", ")}`,
        "schedule",
      );
    }
    return parseSchedule(preset.schedule);
  }
  try {
    return parseSchedule(input);
  } catch (err) {
    if (err instanceof ScheduleError) {
      const first = err.issues[0];
      throw new ServiceError(
        "invalid-schedule",
        err.message,
        first ? `schedule.${first.path}` : "schedule",
      );
    }
    throw err;
  }
}

/**
 * Downsamples y[0..n) against its index to about maxPoints points, keeping the
 * minimum and the maximum of every bucket (in x order) so that spikes and
 * steps survive.
 */
export function minMaxDownsample(
  y: ArrayLike<number>,
  maxPoints: number,
  x?: ArrayLike<number>,
): Series {
  const n = y.length;
  const xs: number[] = [];
  const ys: number[] = [];
  const xAt = (i: number) => (x ? (x[i] as number) : i);
  if (n <= maxPoints) {
    for (let i = 0; i < n; i++) {
      xs.push(xAt(i));
      ys.push(y[i] as number);
    }
    return { x: xs, y: ys };
  }
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets);
    const end = Math.floor(((b + 1) * n) / buckets);
    let lo = start;
    let hi = start;
    for (let i = start + 1; i < end; i++) {
      if ((y[i] as number) < (y[lo] as number)) lo = i;
      if ((y[i] as number) > (y[hi] as number)) hi = i;
    }
    for (const i of lo === hi ? [lo] : lo < hi ? [lo, hi] : [hi, lo]) {
      xs.push(xAt(i));
      ys.push(y[i] as number);
    }
  }
  // Always end on the last point, so the series spans the whole run.
  if (xs.at(-1) !== xAt(n - 1)) {
    xs.push(xAt(n - 1));
    ys.push(y[n - 1] as number);
  }
  return { x: xs, y: ys };
}

export function validate(p: ParsedParams<"schedules.validate">): Results["schedules.validate"] {
  try {
    parseSchedule(p.schedule);
    return { ok: true };
  } catch (err) {
    if (err instanceof ScheduleError) return { ok: false, issues: err.issues };
    throw err;
  }
}

export function preview(p: ParsedParams<"schedules.preview">): Results["schedules.preview"] {
  const schedule = resolveSchedule(p.schedule);
  const c = compileSchedule(schedule, {
    datasetSize: p.datasetSize,
    noise: p.noise === undefined ? undefined : { c: p.noise },
    epochs: p.epochs,
    fit: p.fit,
  });
  // Samples seen after each step: the last batch of an epoch may be partial.
  const samples = new Float64Array(c.steps.lr.length);
  let k = 0;
  let before = 0;
  for (const row of c.epochs) {
    for (let i = 0; i < row.steps; i++, k++)
      samples[k] = Math.min(before + (i + 1) * row.batchSize, row.samples);
    before = row.samples;
  }
  return {
    name: schedule.name ?? null,
    datasetSize: c.datasetSize,
    deltaRelative: c.deltaRelative,
    epochs: c.epochs,
    totals: c.totals,
    warnings: c.warnings,
    length: c.length,
    steps: {
      lr: minMaxDownsample(c.steps.lr, p.maxPoints),
      batchSize: minMaxDownsample(c.steps.batchSize, p.maxPoints),
      delta: minMaxDownsample(c.steps.delta, p.maxPoints),
      samples: minMaxDownsample(samples, p.maxPoints),
    },
  };
}

export function exportSchedule(p: ParsedParams<"schedules.export">): Results["schedules.export"] {
  const schedule = resolveSchedule(p.schedule);
  const code = exportPyTorch(schedule, {
    datasetSize: p.datasetSize,
    epochs: p.epochs,
    fit: p.fit,
  });
  const base = (schedule.name ?? "schedule").replace(/[^A-Za-z0-9_-]+/g, "_");
  return { code, filename: `${base}.py` };
}

export function presets(): Results["schedules.presets"] {
  return [...PRESETS];
}
