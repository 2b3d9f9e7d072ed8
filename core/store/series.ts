/**
 * Metric series in chunks (schema version 4; layouts in codec.ts, tables in
 * schema.ts, the design in docs/storage.md).
 *
 * A run's values live in per-(run, key) chunks of up to 1,024 values in step
 * order (metric_chunks), each with a summary row (metric_summaries: counts,
 * the x range, the epoch range, and the level-1 buckets of 64 values), and
 * per run an axis (metric_axis): the epoch, epochs done, samples and wall
 * time of each step, stored once for every key logged with them. A value
 * logged with another x than its step's axis point (an epoch-end value) is
 * stored with its own x, so every value reads back exactly as recorded.
 * run_metrics holds each key's count, final value and lowest and highest
 * value with where they were first reached.
 *
 * Every function here runs inside the caller's transaction: the recorder
 * writes values, axis, summaries and run_metrics of a flush in one
 * transaction, so after a crash they are never out of step with each other.
 */
import type { Statement } from "better-sqlite3";
import {
  BUCKET_VALUES,
  type Bucket,
  CHUNK_VALUES,
  decodeF64,
  decodeSteps,
  decodeSummary,
  decodeUints,
  decodeValues,
  encodeF64,
  encodeSteps,
  encodeSummary,
  encodeUints,
  encodeValues,
  valueWidth,
} from "./codec.js";
import { StoreError } from "./errors.js";
import type { Db } from "./schema.js";

/** Numbers per row handed to append(): key id, step, epoch, epochsDone, samples, wallTime, value (NaN: none). */
export const ROW_WIDTH = 7;

/** One key's values with their x, decoded (parallel arrays, in step order). */
export interface Columns {
  steps: Float64Array;
  values: Float64Array;
  epochs: Float64Array;
  epochsDone: Float64Array;
  samples: Float64Array;
  wallTimes: Float64Array;
}

interface ChunkRow {
  seq: number;
  n: number;
  first_step: number;
  last_step: number;
  width: number;
  steps: Buffer | null;
  x: Buffer | null;
  vals: Buffer;
}

interface AxisRow {
  first_step: number;
  n: number;
  epoch0: number;
  samples0: number;
  epoch_width: 1 | 2;
  epochs: Buffer;
  samples: Buffer;
  epochs_done: Buffer;
  wall_time: Buffer;
}

/**
 * A decoded axis chunk: the x of steps first .. first + n - 1. Typed arrays
 * as read (no copy); plain arrays once points are appended (the tail).
 */
interface AxisChunk {
  first: number;
  epochs: Columnar;
  samples: Columnar;
  epochsDone: Columnar;
  wallTimes: Columnar;
  /** Changed since read: written back at the end of the operation. */
  dirty: boolean;
  /** Lowest and highest epoch and samples (kept while points are appended). */
  range?: { e: [number, number]; s: [number, number] };
}

type Columnar = number[] | Float64Array;

export interface SummaryRow {
  seq: number;
  n: number;
  count: number;
  first_step: number;
  last_step: number;
  min_epoch: number;
  max_epoch: number;
  ed0: number;
  ed1: number;
  samples0: number;
  samples1: number;
  wall0: number;
  wall1: number;
  max_samples: number;
  max_wall: number;
  vmin: number | null;
  vmax: number | null;
  l1: Buffer;
}

const EMPTY = new Float64Array(0);

function concat(a: Float64Array, b: Float64Array): Float64Array {
  if (a.length === 0) return b;
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function slice(c: Columns, from: number, to: number): Columns {
  return {
    steps: c.steps.subarray(from, to),
    values: c.values.subarray(from, to),
    epochs: c.epochs.subarray(from, to),
    epochsDone: c.epochsDone.subarray(from, to),
    samples: c.samples.subarray(from, to),
    wallTimes: c.wallTimes.subarray(from, to),
  };
}

function joinColumns(a: Columns, b: Columns): Columns {
  return {
    steps: concat(a.steps, b.steps),
    values: concat(a.values, b.values),
    epochs: concat(a.epochs, b.epochs),
    epochsDone: concat(a.epochsDone, b.epochsDone),
    samples: concat(a.samples, b.samples),
    wallTimes: concat(a.wallTimes, b.wallTimes),
  };
}

function emptyColumns(): Columns {
  return {
    steps: EMPTY,
    values: EMPTY,
    epochs: EMPTY,
    epochsDone: EMPTY,
    samples: EMPTY,
    wallTimes: EMPTY,
  };
}

function columnsOf(n: number): Columns {
  return {
    steps: new Float64Array(n),
    values: new Float64Array(n),
    epochs: new Float64Array(n),
    epochsDone: new Float64Array(n),
    samples: new Float64Array(n),
    wallTimes: new Float64Array(n),
  };
}

/** Keeps the entries where keep(i); returns new columns. */
export function filterValues(c: Columns, keep: (i: number) => boolean): Columns {
  const idx: number[] = [];
  for (let i = 0; i < c.steps.length; i++) if (keep(i)) idx.push(i);
  const out = columnsOf(idx.length);
  for (const [j, i] of idx.entries()) {
    out.steps[j] = c.steps[i] as number;
    out.values[j] = c.values[i] as number;
    out.epochs[j] = c.epochs[i] as number;
    out.epochsDone[j] = c.epochsDone[i] as number;
    out.samples[j] = c.samples[i] as number;
    out.wallTimes[j] = c.wallTimes[i] as number;
  }
  return out;
}

/** Statements of one database, prepared once. */
class Statements {
  readonly chunkTail: Statement;
  readonly chunksFrom: Statement;
  readonly chunksAll: Statement;
  readonly chunkAt: Statement;
  readonly putChunk: Statement;
  readonly putSummary: Statement;
  readonly dropChunks: Statement;
  readonly dropSummaries: Statement;
  readonly axisTail: Statement;
  readonly axisAt: Statement;
  readonly axisAll: Statement;
  readonly putAxis: Statement;
  readonly dropAxis: Statement;
  readonly axisFromEpoch: Statement;
  readonly keysFromEpoch: Statement;
  readonly firstSeqFromEpoch: Statement;
  readonly firstSeqFromStep: Statement;
  readonly metric: Statement;
  readonly putMetric: Statement;
  readonly dropMetric: Statement;

  constructor(db: Db) {
    const chunkCols = "seq, n, first_step, last_step, width, steps, x, vals";
    this.chunkTail = db.prepare(
      `SELECT ${chunkCols} FROM metric_chunks WHERE run_pk = ? AND key_id = ? ORDER BY seq DESC LIMIT 1`,
    );
    this.chunksFrom = db.prepare(
      `SELECT ${chunkCols} FROM metric_chunks WHERE run_pk = ? AND key_id = ? AND seq >= ? ORDER BY seq`,
    );
    this.chunksAll = db.prepare(
      `SELECT ${chunkCols} FROM metric_chunks WHERE run_pk = ? AND key_id = ? ORDER BY seq`,
    );
    this.chunkAt = db.prepare(
      `SELECT ${chunkCols} FROM metric_chunks WHERE run_pk = ? AND key_id = ? AND seq = ?`,
    );
    this.putChunk = db.prepare(
      `INSERT OR REPLACE INTO metric_chunks (run_pk, key_id, seq, n, first_step, last_step, width, steps, x, vals)
       VALUES (@pk, @key, @seq, @n, @first, @last, @width, @steps, @x, @vals)`,
    );
    this.putSummary = db.prepare(
      `INSERT OR REPLACE INTO metric_summaries (run_pk, key_id, seq, n, count, first_step, last_step,
         min_epoch, max_epoch, ed0, ed1, samples0, samples1, wall0, wall1, max_samples, max_wall, vmin, vmax, l1)
       VALUES (@pk, @key, @seq, @n, @count, @first_step, @last_step, @min_epoch, @max_epoch, @ed0, @ed1,
         @samples0, @samples1, @wall0, @wall1, @max_samples, @max_wall, @vmin, @vmax, @l1)`,
    );
    this.dropChunks = db.prepare(
      "DELETE FROM metric_chunks WHERE run_pk = ? AND key_id = ? AND seq >= ?",
    );
    this.dropSummaries = db.prepare(
      "DELETE FROM metric_summaries WHERE run_pk = ? AND key_id = ? AND seq >= ?",
    );
    const axisCols =
      "first_step, n, epoch0, samples0, epoch_width, epochs, samples, epochs_done, wall_time";
    this.axisTail = db.prepare(
      `SELECT ${axisCols} FROM metric_axis WHERE run_pk = ? ORDER BY first_step DESC LIMIT 1`,
    );
    this.axisAt = db.prepare(
      `SELECT ${axisCols} FROM metric_axis WHERE run_pk = ? AND first_step <= ? ORDER BY first_step DESC LIMIT 1`,
    );
    this.axisAll = db.prepare(
      `SELECT ${axisCols} FROM metric_axis WHERE run_pk = ? ORDER BY first_step`,
    );
    this.putAxis = db.prepare(
      `INSERT OR REPLACE INTO metric_axis (run_pk, first_step, n, epoch0, max_epoch, samples0,
         epoch_width, epochs, samples, epochs_done, wall_time)
       VALUES (@pk, @first, @n, @epoch0, @maxEpoch, @samples0, @epochWidth, @epochs, @samples,
         @epochsDone, @wallTimes)`,
    );
    this.dropAxis = db.prepare("DELETE FROM metric_axis WHERE run_pk = ? AND first_step = ?");
    this.axisFromEpoch = db.prepare(
      `SELECT ${axisCols} FROM metric_axis WHERE run_pk = ? AND max_epoch >= ? ORDER BY first_step`,
    );
    this.keysFromEpoch = db.prepare(
      "SELECT DISTINCT key_id FROM metric_summaries WHERE run_pk = ? AND max_epoch >= ?",
    );
    this.firstSeqFromEpoch = db.prepare(
      "SELECT min(seq) AS seq FROM metric_summaries WHERE run_pk = ? AND key_id = ? AND max_epoch >= ?",
    );
    this.firstSeqFromStep = db.prepare(
      "SELECT min(seq) AS seq FROM metric_summaries WHERE run_pk = ? AND key_id = ? AND last_step >= ?",
    );
    this.metric = db.prepare("SELECT * FROM run_metrics WHERE run_pk = ? AND key_id = ?");
    this.putMetric = db.prepare(
      `INSERT OR REPLACE INTO run_metrics (run_pk, key_id, rows, count, first_step, last_step,
         final_value, final_step, final_epoch, final_epochs_done, final_samples, final_wall_time,
         min_value, min_step, min_epoch, min_epochs_done, min_samples, min_wall_time,
         max_value, max_step, max_epoch, max_epochs_done, max_samples, max_wall_time)
       VALUES (@pk, @key, @rows, @count, @firstStep, @lastStep,
         @final_value, @final_step, @final_epoch, @final_epochs_done, @final_samples, @final_wall_time,
         @min_value, @min_step, @min_epoch, @min_epochs_done, @min_samples, @min_wall_time,
         @max_value, @max_step, @max_epoch, @max_epochs_done, @max_samples, @max_wall_time)`,
    );
    this.dropMetric = db.prepare("DELETE FROM run_metrics WHERE run_pk = ? AND key_id = ?");
  }
}

const STATEMENTS = new WeakMap<Db, Statements>();

function statements(db: Db): Statements {
  let s = STATEMENTS.get(db);
  if (!s) {
    s = new Statements(db);
    STATEMENTS.set(db, s);
  }
  return s;
}

function decodeAxis(row: AxisRow): AxisChunk {
  return {
    first: row.first_step,
    epochs: decodeUints(row.epochs, row.epoch0, row.epoch_width, row.n),
    samples: decodeUints(row.samples, row.samples0, 4, row.n),
    epochsDone: decodeF64(row.epochs_done, row.n),
    wallTimes: decodeF64(row.wall_time, row.n),
    dirty: false,
  };
}

function minMax(xs: Columnar): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const x of xs) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

/** Whether epoch and samples fit the axis layout (uint16 / uint32 offsets in a chunk). */
function axisFits(chunk: AxisChunk, epoch: number, samples: number): boolean {
  if (chunk.epochs.length >= CHUNK_VALUES) return false;
  chunk.range ??= { e: minMax(chunk.epochs), s: minMax(chunk.samples) };
  const { e, s } = chunk.range;
  return (
    Math.max(e[1], epoch) - Math.min(e[0], epoch) < 65536 &&
    Math.max(s[1], samples) - Math.min(s[0], samples) < 2 ** 32
  );
}

/**
 * A run's axis during one operation: decoded chunks cached, new points
 * appended at the tail, changed chunks written back by save().
 */
class Axis {
  private readonly chunks = new Map<number, AxisChunk | null>();
  private tail: AxisChunk | null;

  constructor(
    private readonly st: Statements,
    private readonly pk: number,
  ) {
    const row = st.axisTail.get(pk) as AxisRow | undefined;
    this.tail = row ? decodeAxis(row) : null;
    if (this.tail) this.chunks.set(this.tail.first, this.tail);
  }

  get lastStep(): number {
    return this.tail ? this.tail.first + this.tail.epochs.length - 1 : -1;
  }

  /** The chunk holding `step`, or null. */
  private chunkAt(step: number): AxisChunk | null {
    const t = this.tail;
    if (t && step >= t.first) return step < t.first + t.epochs.length ? t : null;
    for (const c of this.chunks.values())
      if (c && step >= c.first && step < c.first + c.epochs.length) return c;
    const row = this.st.axisAt.get(this.pk, step) as AxisRow | undefined;
    if (!row || step >= row.first_step + row.n) return null;
    const c = decodeAxis(row);
    this.chunks.set(c.first, c);
    return c;
  }

  /** Index i of `step` in its chunk, or null when no axis point is at that step. */
  at(step: number): { chunk: AxisChunk; i: number } | null {
    const c = this.chunkAt(step);
    return c ? { chunk: c, i: step - c.first } : null;
  }

  /** Whether the value's x is the axis point of its step (then it is stored without its own x). */
  matches(step: number, epoch: number, epochsDone: number, samples: number, wall: number): boolean {
    const a = this.at(step);
    if (!a) return false;
    const { chunk: c, i } = a;
    return (
      c.epochs[i] === epoch &&
      Object.is(c.epochsDone[i], epochsDone) &&
      c.samples[i] === samples &&
      Object.is(c.wallTimes[i], wall)
    );
  }

  /**
   * Makes this x the axis point of `step` when the step is past the axis's
   * last one (the first value logged at a step defines its point); x that do
   * not fit the layout (fractional or negative epochs or samples) stay off it.
   */
  offer(step: number, epoch: number, epochsDone: number, samples: number, wall: number): void {
    if (step <= this.lastStep) return;
    if (!Number.isSafeInteger(epoch) || epoch < 0 || !Number.isSafeInteger(samples) || samples < 0)
      return;
    const t = this.tail;
    if (!t || step !== this.lastStep + 1 || !axisFits(t, epoch, samples)) {
      const c: AxisChunk = {
        first: step,
        epochs: [],
        samples: [],
        epochsDone: [],
        wallTimes: [],
        dirty: true,
      };
      this.chunks.set(step, c);
      this.tail = c;
    }
    const c = this.tail as AxisChunk;
    if (!Array.isArray(c.epochs)) {
      // The tail as read: make it growable.
      c.epochs = Array.from(c.epochs);
      c.samples = Array.from(c.samples);
      c.epochsDone = Array.from(c.epochsDone);
      c.wallTimes = Array.from(c.wallTimes);
    }
    if (c.range) {
      c.range.e = [Math.min(c.range.e[0], epoch), Math.max(c.range.e[1], epoch)];
      c.range.s = [Math.min(c.range.s[0], samples), Math.max(c.range.s[1], samples)];
    }
    (c.epochs as number[]).push(epoch);
    (c.samples as number[]).push(samples);
    (c.epochsDone as number[]).push(epochsDone);
    (c.wallTimes as number[]).push(wall);
    c.dirty = true;
  }

  /** Fills x of implicit values (those stored without their own x) from the axis. */
  resolve(steps: Float64Array, into: Columns, from = 0): void {
    for (let i = 0; i < steps.length; i++) {
      const a = this.at(steps[i] as number);
      if (!a) throw new StoreError("corrupt", `the library lost the x of step ${steps[i]}`);
      into.epochs[from + i] = a.chunk.epochs[a.i] as number;
      into.epochsDone[from + i] = a.chunk.epochsDone[a.i] as number;
      into.samples[from + i] = a.chunk.samples[a.i] as number;
      into.wallTimes[from + i] = a.chunk.wallTimes[a.i] as number;
    }
  }

  /** Writes the chunks changed by this operation. */
  save(): void {
    for (const c of this.chunks.values()) if (c?.dirty) writeAxisChunk(this.st, this.pk, c);
  }
}

function writeAxisChunk(st: Statements, pk: number, c: AxisChunk): void {
  const [epoch0, maxEpoch] = minMax(c.epochs);
  const [samples0] = minMax(c.samples);
  const epochWidth = maxEpoch - epoch0 < 256 ? 1 : 2;
  st.putAxis.run({
    pk,
    first: c.first,
    n: c.epochs.length,
    epoch0,
    maxEpoch,
    samples0,
    epochWidth,
    epochs: encodeUints(c.epochs, epoch0, epochWidth),
    samples: encodeUints(c.samples, samples0, 4),
    epochsDone: encodeF64(c.epochsDone),
    wallTimes: encodeF64(c.wallTimes),
  });
  c.dirty = false;
}

/** Decodes one chunk with the x of every value. */
function decodeChunk(row: ChunkRow, axis: Axis): Columns {
  const n = row.n;
  const c = columnsOf(n);
  c.steps = decodeSteps(row.steps, row.first_step, n);
  c.values = decodeValues(row.vals, row.width, n);
  if (row.x) {
    c.epochs = decodeF64(row.x, n, 0);
    c.epochsDone = decodeF64(row.x, n, n);
    c.samples = decodeF64(row.x, n, 2 * n);
    c.wallTimes = decodeF64(row.x, n, 3 * n);
  } else axis.resolve(c.steps, c);
  return c;
}

/** Writes chunk `seq` (at most CHUNK_VALUES values) and its summary row. */
function writeChunk(
  st: Statements,
  axis: Axis,
  pk: number,
  key: number,
  seq: number,
  c: Columns,
): void {
  const n = c.steps.length;
  let implicit = true;
  for (let i = 0; i < n && implicit; i++)
    implicit = axis.matches(
      c.steps[i] as number,
      c.epochs[i] as number,
      c.epochsDone[i] as number,
      c.samples[i] as number,
      c.wallTimes[i] as number,
    );
  const first = c.steps[0] as number;
  const last = c.steps[n - 1] as number;
  if (last - first >= 2 ** 32)
    throw new StoreError("invalid", `steps ${first} and ${last} are too far apart for one chunk`);
  const width = valueWidth(c.values);
  st.putChunk.run({
    pk,
    key,
    seq,
    n,
    first,
    last,
    width,
    steps: encodeSteps(c.steps),
    x: implicit
      ? null
      : Buffer.concat([
          encodeF64(c.epochs),
          encodeF64(c.epochsDone),
          encodeF64(c.samples),
          encodeF64(c.wallTimes),
        ]),
    vals: encodeValues(c.values, width),
  });
  st.putSummary.run({ pk, key, seq, ...summaryOf(c) });
}

/** The summary row of a chunk's values (metric_summaries, without its key columns). */
function summaryOf(c: Columns): Record<string, number | Buffer | null> {
  const n = c.steps.length;
  const first = c.steps[0] as number;
  const last = c.steps[n - 1] as number;
  let count = 0;
  let vmin = Number.POSITIVE_INFINITY;
  let vmax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = c.values[i] as number;
    if (Number.isNaN(v)) continue;
    count++;
    if (v < vmin) vmin = v;
    if (v > vmax) vmax = v;
  }
  let minEpoch = Number.POSITIVE_INFINITY;
  let maxEpoch = Number.NEGATIVE_INFINITY;
  let maxSamples = Number.NEGATIVE_INFINITY;
  let maxWall = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    minEpoch = Math.min(minEpoch, c.epochs[i] as number);
    maxEpoch = Math.max(maxEpoch, c.epochs[i] as number);
    maxSamples = Math.max(maxSamples, c.samples[i] as number);
    maxWall = Math.max(maxWall, c.wallTimes[i] as number);
  }
  return {
    n,
    count,
    first_step: first,
    last_step: last,
    min_epoch: minEpoch,
    max_epoch: maxEpoch,
    ed0: c.epochsDone[0] as number,
    ed1: c.epochsDone[n - 1] as number,
    samples0: c.samples[0] as number,
    samples1: c.samples[n - 1] as number,
    wall0: c.wallTimes[0] as number,
    wall1: c.wallTimes[n - 1] as number,
    max_samples: maxSamples,
    max_wall: maxWall,
    vmin: count ? vmin : null,
    vmax: count ? vmax : null,
    l1: encodeSummary(c.steps, c.values, c),
  };
}

/** Writes columns as chunks seq0, seq0 + 1, ... (CHUNK_VALUES values each). */
function writeChunks(
  st: Statements,
  axis: Axis,
  pk: number,
  key: number,
  seq0: number,
  c: Columns,
): void {
  for (let i = 0, seq = seq0; i < c.steps.length; i += CHUNK_VALUES, seq++)
    writeChunk(st, axis, pk, key, seq, slice(c, i, Math.min(c.steps.length, i + CHUNK_VALUES)));
}

/** New values of one key from the rows: sorted by step, a repeated step keeping the last. */
function keyColumns(rows: Float64Array, idx: number[]): Columns {
  const order = idx.map((r, j) => ({ r, j }));
  let sorted = true;
  for (let j = 1; j < idx.length; j++)
    if (
      (rows[(idx[j] as number) * ROW_WIDTH + 1] as number) <=
      (rows[(idx[j - 1] as number) * ROW_WIDTH + 1] as number)
    ) {
      sorted = false;
      break;
    }
  if (!sorted)
    order.sort(
      (a, b) =>
        (rows[a.r * ROW_WIDTH + 1] as number) - (rows[b.r * ROW_WIDTH + 1] as number) || a.j - b.j,
    );
  const kept: number[] = [];
  for (const { r } of order) {
    const prev = kept.at(-1);
    if (prev !== undefined && rows[prev * ROW_WIDTH + 1] === rows[r * ROW_WIDTH + 1])
      kept[kept.length - 1] = r;
    else kept.push(r);
  }
  const c = columnsOf(kept.length);
  for (const [j, r] of kept.entries()) {
    const o = r * ROW_WIDTH;
    c.steps[j] = rows[o + 1] as number;
    c.epochs[j] = rows[o + 2] as number;
    c.epochsDone[j] = rows[o + 3] as number;
    c.samples[j] = rows[o + 4] as number;
    c.wallTimes[j] = rows[o + 5] as number;
    c.values[j] = rows[o + 6] as number;
  }
  return c;
}

/** Merges new values into old (both in step order); a step in both keeps the new value. */
function mergeColumns(old: Columns, add: Columns): Columns {
  const out: number[] = [];
  const from: (0 | 1)[] = [];
  let i = 0;
  let j = 0;
  while (i < old.steps.length || j < add.steps.length) {
    const a = i < old.steps.length ? (old.steps[i] as number) : Number.POSITIVE_INFINITY;
    const b = j < add.steps.length ? (add.steps[j] as number) : Number.POSITIVE_INFINITY;
    if (b <= a) {
      out.push(j++);
      from.push(1);
      if (a === b) i++;
    } else {
      out.push(i++);
      from.push(0);
    }
  }
  const c = columnsOf(out.length);
  for (let k = 0; k < out.length; k++) {
    const src = from[k] === 1 ? add : old;
    const s = out[k] as number;
    c.steps[k] = src.steps[s] as number;
    c.values[k] = src.values[s] as number;
    c.epochs[k] = src.epochs[s] as number;
    c.epochsDone[k] = src.epochsDone[s] as number;
    c.samples[k] = src.samples[s] as number;
    c.wallTimes[k] = src.wallTimes[s] as number;
  }
  return c;
}

function checkRow(rows: Float64Array, o: number): void {
  const step = rows[o + 1] as number;
  const epoch = rows[o + 2] as number;
  const samples = rows[o + 4] as number;
  if (!Number.isSafeInteger(step) || step < 0)
    throw new StoreError("invalid", `a metric's step must be a whole number >= 0 (got ${step})`);
  if (
    !Number.isFinite(epoch) ||
    !Number.isFinite(samples) ||
    !Number.isFinite(rows[o + 3] as number) ||
    !Number.isFinite(rows[o + 5] as number)
  )
    throw new StoreError(
      "invalid",
      `a metric's epoch, epochs done, samples and wall time must be finite (step ${step})`,
    );
}

/**
 * Appends rows (ROW_WIDTH numbers each, in the order they were logged) to run
 * `pk`: axis points, chunks, summaries and run_metrics. A (key, step) that is
 * already stored is replaced, as an INSERT OR REPLACE of a row would.
 */
export function appendRows(db: Db, pk: number, rows: Float64Array, count: number): void {
  if (count === 0) return;
  const st = statements(db);
  const axis = new Axis(st, pk);
  const byKey = new Map<number, number[]>();
  for (let r = 0; r < count; r++) {
    const o = r * ROW_WIDTH;
    checkRow(rows, o);
    axis.offer(
      rows[o + 1] as number,
      rows[o + 2] as number,
      rows[o + 3] as number,
      rows[o + 4] as number,
      rows[o + 5] as number,
    );
    const key = rows[o] as number;
    let list = byKey.get(key);
    if (!list) {
      list = [];
      byKey.set(key, list);
    }
    list.push(r);
  }
  for (const [key, idx] of byKey) {
    const add = keyColumns(rows, idx);
    const tail = st.chunkTail.get(pk, key) as ChunkRow | undefined;
    if (tail && (add.steps[0] as number) <= tail.last_step) {
      // An earlier step again (rare: a measurement at an epoch already recorded): rewrite from there.
      const seq0 = (st.firstSeqFromStep.get(pk, key, add.steps[0]) as { seq: number }).seq;
      let old = emptyColumns();
      for (const row of st.chunksFrom.all(pk, key, seq0) as ChunkRow[])
        old = joinColumns(old, decodeChunk(row, axis));
      st.dropChunks.run(pk, key, seq0);
      st.dropSummaries.run(pk, key, seq0);
      writeChunks(st, axis, pk, key, seq0, mergeColumns(old, add));
      recomputeMetric(st, axis, pk, key);
      continue;
    }
    if (tail && tail.n < CHUNK_VALUES)
      writeChunks(st, axis, pk, key, tail.seq, joinColumns(decodeChunk(tail, axis), add));
    else writeChunks(st, axis, pk, key, tail ? tail.seq + 1 : 0, add);
    updateMetric(st, pk, key, add);
  }
  axis.save();
}

type MetricFields = Record<string, number | null>;

function pointFields(prefix: string, c: Columns, i: number): MetricFields {
  return {
    [`${prefix}_value`]: c.values[i] as number,
    [`${prefix}_step`]: c.steps[i] as number,
    [`${prefix}_epoch`]: c.epochs[i] as number,
    [`${prefix}_epochs_done`]: c.epochsDone[i] as number,
    [`${prefix}_samples`]: c.samples[i] as number,
    [`${prefix}_wall_time`]: c.wallTimes[i] as number,
  };
}

const METRIC_FIELDS = ["rows", "count", "first_step", "last_step"].concat(
  ...["final", "min", "max"].map((p) =>
    ["value", "step", "epoch", "epochs_done", "samples", "wall_time"].map((f) => `${p}_${f}`),
  ),
);

/**
 * A key's run_metrics row after values past every earlier step: counts, the
 * last value, and the lowest and highest with the first step reaching them.
 */
function foldMetric(prev: MetricFields | undefined, add: Columns): MetricFields {
  const next: MetricFields = {};
  for (const f of METRIC_FIELDS) next[f] = prev?.[f] ?? null;
  const n = add.steps.length;
  if (n === 0) return next;
  next.rows = (prev?.rows ?? 0) + n;
  next.count = prev?.count ?? 0;
  next.first_step ??= add.steps[0] as number;
  next.last_step = add.steps[n - 1] as number;
  let last = -1;
  let lo = -1;
  let hi = -1;
  let min = next.min_value ?? Number.POSITIVE_INFINITY;
  let max = next.max_value ?? Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = add.values[i] as number;
    if (Number.isNaN(v)) continue;
    next.count++;
    last = i;
    // Strict comparisons: the first step reaching the extreme is kept.
    if (v < min) {
      min = v;
      lo = i;
    }
    if (v > max) {
      max = v;
      hi = i;
    }
  }
  if (last >= 0) Object.assign(next, pointFields("final", add, last));
  if (lo >= 0) Object.assign(next, pointFields("min", add, lo));
  if (hi >= 0) Object.assign(next, pointFields("max", add, hi));
  return next;
}

/** run_metrics after appending values past every stored step. */
function updateMetric(st: Statements, pk: number, key: number, add: Columns): void {
  const prev = st.metric.get(pk, key) as MetricFields | undefined;
  const row = foldMetric(prev, add);
  st.putMetric.run({ ...row, firstStep: row.first_step, lastStep: row.last_step, pk, key });
}

/** run_metrics of one key from all its chunks (after a rewrite or a trim). */
function recomputeMetric(st: Statements, axis: Axis, pk: number, key: number): void {
  st.dropMetric.run(pk, key);
  let row: MetricFields | undefined;
  for (const chunk of st.chunksAll.all(pk, key) as ChunkRow[])
    row = foldMetric(row, decodeChunk(chunk, axis));
  if (row)
    st.putMetric.run({ ...row, firstStep: row.first_step, lastStep: row.last_step, pk, key });
}

/**
 * Drops every value, axis point and summary of epochs >= `epoch` (a resume
 * trains them again); run_metrics follow.
 */
export function trimFromEpoch(db: Db, pk: number, epoch: number): void {
  const st = statements(db);
  const axis = new Axis(st, pk);
  const keys = (st.keysFromEpoch.all(pk, epoch) as { key_id: number }[]).map((r) => r.key_id);
  for (const key of keys) {
    const seq0 = (st.firstSeqFromEpoch.get(pk, key, epoch) as { seq: number }).seq;
    let old = emptyColumns();
    for (const row of st.chunksFrom.all(pk, key, seq0) as ChunkRow[])
      old = joinColumns(old, decodeChunk(row, axis));
    st.dropChunks.run(pk, key, seq0);
    st.dropSummaries.run(pk, key, seq0);
    const kept = filterValues(old, (i) => (old.epochs[i] as number) < epoch);
    // The kept values' axis points are kept too (same epoch), so implicit values stay implicit.
    writeChunks(st, axis, pk, key, seq0, kept);
    recomputeMetric(st, axis, pk, key);
  }
  for (const row of st.axisFromEpoch.all(pk, epoch) as AxisRow[]) {
    const c = decodeAxis(row);
    st.dropAxis.run(pk, row.first_step);
    // Kept points, split where a dropped point leaves a gap (axis chunks are contiguous).
    let piece: AxisChunk | null = null;
    for (let i = 0; i < c.epochs.length; i++) {
      if ((c.epochs[i] as number) >= epoch) {
        if (piece) writeAxisChunk(st, pk, piece);
        piece = null;
        continue;
      }
      piece ??= {
        first: c.first + i,
        epochs: [],
        samples: [],
        epochsDone: [],
        wallTimes: [],
        dirty: true,
      };
      (piece.epochs as number[]).push(c.epochs[i] as number);
      (piece.samples as number[]).push(c.samples[i] as number);
      (piece.epochsDone as number[]).push(c.epochsDone[i] as number);
      (piece.wallTimes as number[]).push(c.wallTimes[i] as number);
    }
    if (piece) writeAxisChunk(st, pk, piece);
  }
}

/**
 * The largest step, samples, wall time and epoch of the values of epochs
 * before `beforeEpoch` (where a resume continues from); nulls when none.
 */
export function baseline(
  db: Db,
  pk: number,
  beforeEpoch: number,
): { step: number | null; samples: number | null; wall: number | null; epoch: number | null } {
  const whole = db
    .prepare(
      `SELECT max(last_step) AS step, max(max_samples) AS samples, max(max_wall) AS wall, max(max_epoch) AS epoch
       FROM metric_summaries WHERE run_pk = ? AND max_epoch < ?`,
    )
    .get(pk, beforeEpoch) as {
    step: number | null;
    samples: number | null;
    wall: number | null;
    epoch: number | null;
  };
  const out = { ...whole };
  const straddling = db
    .prepare(
      `SELECT c.seq, c.n, c.first_step, c.last_step, c.width, c.steps, c.x, c.vals
       FROM metric_summaries s JOIN metric_chunks c USING (run_pk, key_id, seq)
       WHERE s.run_pk = ? AND s.min_epoch < ? AND s.max_epoch >= ?`,
    )
    .all(pk, beforeEpoch, beforeEpoch) as ChunkRow[];
  if (straddling.length) {
    const axis = new Axis(statements(db), pk);
    const mx = (a: number | null, b: number) => (a === null ? b : Math.max(a, b));
    for (const row of straddling) {
      const c = decodeChunk(row, axis);
      for (let i = 0; i < c.steps.length; i++) {
        if ((c.epochs[i] as number) >= beforeEpoch) continue;
        out.step = mx(out.step, c.steps[i] as number);
        out.samples = mx(out.samples, c.samples[i] as number);
        out.wall = mx(out.wall, c.wallTimes[i] as number);
        out.epoch = mx(out.epoch, c.epochs[i] as number);
      }
    }
  }
  return out;
}

// ---- reading -------------------------------------------------------------------

/** Reads series of one run, sharing its decoded axis between keys. */
export class SeriesReader {
  private readonly st: Statements;
  private readonly axis: Axis;

  constructor(
    db: Db,
    readonly pk: number,
  ) {
    this.st = statements(db);
    this.axis = new Axis(this.st, pk);
  }

  /** Every value of a key, in step order. */
  all(key: number): Columns {
    let out = emptyColumns();
    for (const row of this.st.chunksAll.all(this.pk, key) as ChunkRow[])
      out = joinColumns(out, decodeChunk(row, this.axis));
    return out;
  }

  /** Chunk `seq` of a key, decoded (empty when there is none). */
  chunk(key: number, seq: number): Columns {
    const row = this.st.chunkAt.get(this.pk, key, seq) as ChunkRow | undefined;
    return row ? decodeChunk(row, this.axis) : emptyColumns();
  }
}

export function summaries(db: Db, pk: number, key: number): SummaryRow[] {
  return db
    .prepare("SELECT * FROM metric_summaries WHERE run_pk = ? AND key_id = ? ORDER BY seq")
    .all(pk, key) as SummaryRow[];
}

export function buckets(row: SummaryRow): Bucket[] {
  return decodeSummary(row.l1);
}

export { BUCKET_VALUES };

// ---- checking ----------------------------------------------------------------------

/**
 * What is out of step in run `pk`'s series: chunks without a summary or with
 * one that does not match their values, values whose axis point is missing,
 * overlapping chunks, run_metrics that do not match the values. Empty when
 * all agree (what every committed transaction leaves, crash or not).
 */
export function verifySeries(db: Db, pk: number): string[] {
  const st = statements(db);
  const axis = new Axis(st, pk);
  const problems: string[] = [];
  const keys = db
    .prepare(
      `SELECT key_id FROM metric_chunks WHERE run_pk = ? UNION SELECT key_id FROM metric_summaries WHERE run_pk = ?
       UNION SELECT key_id FROM run_metrics WHERE run_pk = ? ORDER BY 1`,
    )
    .pluck()
    .all(pk, pk, pk) as number[];
  const same = (a: unknown, b: unknown) =>
    Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : Object.is(a, b) || a === b;
  for (const key of keys) {
    const chunks = st.chunksAll.all(pk, key) as ChunkRow[];
    const sums = new Map(
      (
        db
          .prepare("SELECT * FROM metric_summaries WHERE run_pk = ? AND key_id = ?")
          .all(pk, key) as {
          seq: number;
        }[]
      ).map((r) => [r.seq, r as unknown as Record<string, unknown>]),
    );
    let metric: MetricFields | undefined;
    let lastStep = -1;
    for (const [i, row] of chunks.entries()) {
      if (row.seq !== i) problems.push(`key ${key}: chunk ${row.seq} where ${i} was expected`);
      if (row.first_step <= lastStep)
        problems.push(`key ${key}: chunk ${row.seq} overlaps the one before`);
      lastStep = row.last_step;
      let c: Columns;
      try {
        c = decodeChunk(row, axis);
      } catch (err) {
        problems.push(`key ${key}: chunk ${row.seq}: ${(err as Error).message}`);
        continue;
      }
      const want = summaryOf(c);
      const got = sums.get(row.seq);
      sums.delete(row.seq);
      if (!got) problems.push(`key ${key}: chunk ${row.seq} has no summary`);
      else
        for (const [f, v] of Object.entries(want))
          if (!same(got[f], v))
            problems.push(
              `key ${key}: chunk ${row.seq}: summary ${f} is ${got[f]}, the values say ${v}`,
            );
      metric = foldMetric(metric, c);
    }
    for (const seq of sums.keys()) problems.push(`key ${key}: summary ${seq} has no chunk`);
    const stored = st.metric.get(pk, key) as MetricFields | undefined;
    if (!metric !== !stored)
      problems.push(`key ${key}: run_metrics ${stored ? "without values" : "missing"}`);
    else if (metric && stored)
      for (const f of METRIC_FIELDS)
        if (!same(stored[f], metric[f]))
          problems.push(
            `key ${key}: run_metrics ${f} is ${stored[f]}, the values say ${metric[f]}`,
          );
  }
  return problems;
}
