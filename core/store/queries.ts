/**
 * The queries the comparison view needs, answered from the chunks and their
 * summaries (series.ts), so a chart's cost does not grow with the run's length.
 *
 * queryMetrics: chosen keys of many runs against step, epoch (fractional
 * epochs done), samples seen or wall time, at most maxPoints points per
 * series, optionally only from <= x <= to (a zoomed range). A range holding
 * at most maxPoints values is returned exactly (every value). A larger one is
 * downsampled by min/max per bucket: its values are cut into
 * (maxPoints - 2) / 2 buckets of equal count and each keeps its lowest and
 * highest value, plus the range's first and last point, so a spike or a
 * loss blow-up is never averaged or skipped away. The buckets are made from
 * the level-1 summaries (64 values each, stored with their lowest and
 * highest point) of the chunks inside the range, and from the values of the
 * chunks at its two ends (decoded, exact). So a 2,000-point view of a long
 * range reads its summary rows (one per 1,024 values) and two chunks, and zooming in reads finer
 * data for the visible range only: the values themselves once the range is
 * too short for the summaries (under ~32,000 values at 2,000 points), every
 * value once it holds 2,000 or fewer. (LTTB was not chosen: each pick depends on the previous one,
 * and it may drop an extreme.)
 *
 * bestAndFinal and metricKeys read run_metrics (one row per run and key,
 * kept by the recorder in the transaction of the values), never the values.
 */
import type { XAxis } from "../api/lists.js";
import type { BestAndFinal, MetricKeyInfo, MetricPoint, MetricSeries } from "../api/records.js";
import { BUCKET_VALUES, eachBucket } from "./codec.js";
import { StoreError } from "./errors.js";
import { type Columns, filterValues, SeriesReader } from "./series.js";
import { libraryInternals, type RunStore } from "./store.js";

/** The records and the x axes are declared in core/api (records.ts, lists.ts). */
export type { BestAndFinal, MetricKeyInfo, MetricPoint, MetricSeries, XAxis };

export const X_COLUMNS: Readonly<Record<XAxis, string>> = {
  step: "step",
  epoch: "epochs_done",
  samples: "samples",
  wallTime: "wall_time",
};

export interface MetricsQuery {
  runIds: string[];
  keys: string[];
  /** The x axis (default step); "epoch" is fractional epochs done. */
  x?: XAxis;
  /** The most points returned per series (one run, one key); default 1000, at least 4. */
  maxPoints?: number;
  /** Only points with from <= x <= to. */
  from?: number;
  to?: number;
}

/** Summary columns holding the x of a chunk's first and last value, per axis. */
const X_RANGE: Readonly<Record<XAxis, [string, string]>> = {
  step: ["first_step", "last_step"],
  epoch: ["ed0", "ed1"],
  samples: ["samples0", "samples1"],
  wallTime: ["wall0", "wall1"],
};

interface RangeRow {
  seq: number;
  count: number;
  x0: number;
  x1: number;
  l1: Buffer;
}

/** A run of values that downsampling treats as one: a level-1 bucket, or one decoded value. */
interface Unit {
  count: number;
  minStep: number;
  minX: number;
  min: number;
  maxStep: number;
  maxX: number;
  max: number;
}

function xOf(c: Columns, axis: XAxis, i: number): number {
  switch (axis) {
    case "step":
      return c.steps[i] as number;
    case "epoch":
      return c.epochsDone[i] as number;
    case "samples":
      return c.samples[i] as number;
    default:
      return c.wallTimes[i] as number;
  }
}

export function queryMetrics(store: RunStore, query: MetricsQuery): MetricSeries[] {
  const x = query.x ?? "step";
  const col = X_COLUMNS[x];
  if (!col)
    throw new StoreError("invalid", `x must be one of ${Object.keys(X_COLUMNS).join(", ")}`);
  const maxPoints = Math.floor(query.maxPoints ?? 1000);
  if (!(maxPoints >= 4)) throw new StoreError("invalid", "maxPoints must be at least 4");
  const lib = libraryInternals(store);
  const db = lib.db;
  const [c0, c1] = X_RANGE[x];
  const from = query.from ?? Number.NEGATIVE_INFINITY;
  const to = query.to ?? Number.POSITIVE_INFINITY;
  // Chunks whose x range meets [from, to] (x grows with the step within a key).
  const rangeRows = db.prepare(
    `SELECT seq, count, ${c0} AS x0, ${c1} AS x1, l1 FROM metric_summaries
     WHERE run_pk = ? AND key_id = ? AND ${c1} >= ? AND ${c0} <= ? ORDER BY seq`,
  );
  const out: MetricSeries[] = [];
  const read = db.transaction(() => {
    for (const id of query.runIds) {
      const runId = store.resolveId(id);
      const pk = lib.pk(runId);
      const reader = new SeriesReader(db, pk);
      for (const key of query.keys) {
        const keyId = lib.existingKeyId(key) ?? -1;
        const rows = rangeRows.all(pk, keyId, from, to) as RangeRow[];
        out.push({ runId, key, x, ...series(reader, keyId, rows, x, from, to, maxPoints) });
      }
    }
  });
  read();
  return out;
}

/** One series from its chunks in range (see the module comment). */
function series(
  reader: SeriesReader,
  key: number,
  rows: RangeRow[],
  axis: XAxis,
  from: number,
  to: number,
  maxPoints: number,
): Pick<MetricSeries, "xs" | "values" | "steps" | "total" | "downsampled"> {
  const inside = (r: RangeRow, i: number) =>
    i > 0 && i < rows.length - 1 && r.x0 >= from && r.x1 <= to;
  /** The values of one chunk in range (not null), decoded. */
  const exact = (r: RangeRow): Columns => {
    const c = reader.chunk(key, r.seq);
    return filterValues(c, (i) => {
      const xv = xOf(c, axis, i);
      return xv >= from && xv <= to && !Number.isNaN(c.values[i] as number);
    });
  };
  let total = 0;
  const decoded = new Map<number, Columns>();
  for (const [i, r] of rows.entries()) {
    if (inside(r, i)) total += r.count;
    else {
      const c = exact(r);
      decoded.set(r.seq, c);
      total += c.steps.length;
    }
  }
  const xs: number[] = [];
  const values: number[] = [];
  const steps: number[] = [];
  const buckets = Math.floor((maxPoints - 2) / 2);
  // Level 1 only when it is fine enough: at least half a summary bucket per output bucket
  // (else the range holds under ~32 chunks at the default budget: its values are read).
  const coarse = total / BUCKET_VALUES >= buckets / 2;
  if (total <= maxPoints || !coarse)
    for (const r of rows) if (!decoded.has(r.seq)) decoded.set(r.seq, exact(r));
  if (total <= maxPoints) {
    for (const r of rows) {
      const c = decoded.get(r.seq) as Columns;
      for (let i = 0; i < c.steps.length; i++) {
        xs.push(xOf(c, axis, i));
        values.push(c.values[i] as number);
        steps.push(c.steps[i] as number);
      }
    }
    return { xs, values, steps, total, downsampled: false };
  }
  const units: Unit[] = [];
  let first: Unit | null = null;
  let last: Unit | null = null;
  // Decoded values go in blocks small enough for the output buckets (at most 64, as the summaries).
  const block = Math.max(1, Math.min(BUCKET_VALUES, Math.floor(total / buckets / 2)));
  const xIndex = ({ step: 0, epoch: 1, samples: 2, wallTime: 3 } as const)[axis];
  for (const [i, r] of rows.entries()) {
    const c = decoded.get(r.seq);
    if (c) {
      const n = c.steps.length;
      for (let j = 0; j < n; j += block) {
        let lo = j;
        let hi = j;
        for (let k = j + 1; k < Math.min(n, j + block); k++) {
          if ((c.values[k] as number) < (c.values[lo] as number)) lo = k;
          if ((c.values[k] as number) > (c.values[hi] as number)) hi = k;
        }
        units.push({
          count: Math.min(n, j + block) - j,
          minStep: c.steps[lo] as number,
          minX: xOf(c, axis, lo),
          min: c.values[lo] as number,
          maxStep: c.steps[hi] as number,
          maxX: xOf(c, axis, hi),
          max: c.values[hi] as number,
        });
      }
      if (n > 0) {
        const point = (k: number): Unit => {
          const v = c.values[k] as number;
          const st = c.steps[k] as number;
          const xv = xOf(c, axis, k);
          return { count: 1, minStep: st, minX: xv, min: v, maxStep: st, maxX: xv, max: v };
        };
        first ??= point(0);
        last = point(n - 1);
      }
    } else if (inside(r, i)) {
      eachBucket(r.l1, xIndex, (count, minStep, minX, min, maxStep, maxX, max) => {
        units.push({ count, minStep, minX, min, maxStep, maxX, max });
      });
    }
  }
  const picked = new Map<number, { x: number; v: number }>();
  const pick = (step: number, xv: number, v: number) => picked.set(step, { x: xv, v });
  if (first) pick(first.minStep, first.minX, first.min);
  if (last) pick(last.minStep, last.minX, last.min);
  let seen = 0;
  let group = -1;
  let lo: Unit | null = null;
  let hi: Unit | null = null;
  const close = () => {
    if (lo) pick(lo.minStep, lo.minX, lo.min);
    if (hi) pick(hi.maxStep, hi.maxX, hi.max);
  };
  for (const u of units) {
    const g = Math.min(buckets - 1, Math.floor((seen * buckets) / total));
    seen += u.count;
    if (g !== group) {
      close();
      group = g;
      lo = u;
      hi = u;
      continue;
    }
    if (u.min < (lo as Unit).min) lo = u;
    if (u.max > (hi as Unit).max) hi = u;
  }
  close();
  for (const s of [...picked.keys()].sort((a, b) => a - b)) {
    const p = picked.get(s) as { x: number; v: number };
    xs.push(p.x);
    values.push(p.v);
    steps.push(s);
  }
  return { xs, values, steps, total, downsampled: true };
}

/** Default direction: accuracy and throughput are best when highest, everything else when lowest. */
export function defaultMode(key: string): "min" | "max" {
  return /acc|throughput/i.test(key) ? "max" : "min";
}

interface MetricRow {
  rows: number;
  count: number;
  [k: string]: number | null;
}

function pointOf(row: MetricRow, prefix: "final" | "min" | "max"): MetricPoint | null {
  const value = row[`${prefix}_value`];
  if (value === null || value === undefined) return null;
  return {
    value,
    step: row[`${prefix}_step`] as number,
    epoch: row[`${prefix}_epoch`] as number,
    epochsDone: row[`${prefix}_epochs_done`] as number,
    samples: row[`${prefix}_samples`] as number,
    wallTime: row[`${prefix}_wall_time`] as number,
  };
}

export function bestAndFinal(
  store: RunStore,
  runId: string,
  key: string,
  mode: "min" | "max" = defaultMode(key),
): BestAndFinal {
  const lib = libraryInternals(store);
  const pk = lib.pk(runId);
  const keyId = lib.existingKeyId(key) ?? -1;
  const row = lib.db
    .prepare("SELECT * FROM run_metrics WHERE run_pk = ? AND key_id = ?")
    .get(pk, keyId) as MetricRow | undefined;
  return {
    runId,
    key,
    mode,
    final: row ? pointOf(row, "final") : null,
    best: row ? pointOf(row, mode) : null,
    count: row?.count ?? 0,
  };
}

export function metricKeys(store: RunStore, runId: string): MetricKeyInfo[] {
  return libraryInternals(store)
    .db.prepare(
      `SELECT k.name AS key, m.rows AS count, m.first_step AS firstStep, m.last_step AS lastStep
       FROM run_metrics m JOIN metric_keys k ON k.id = m.key_id WHERE m.run_pk = ? AND m.rows > 0
       ORDER BY k.name`,
    )
    .all(libraryInternals(store).pk(runId)) as MetricKeyInfo[];
}
