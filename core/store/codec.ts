/**
 * The byte layouts of the library's metric blobs (schema version 4, see
 * docs/storage.md), their encoders and decoders, and the same decoders as
 * plain SQL expressions (for the metric_values view, so that the sqlite3
 * shell, Python's sqlite3 or any SQLite tool reads every value without
 * SGD Studio).
 *
 * Every number is little-endian. No compression: deflate would save a few
 * bytes per value but no SQL could read it, and the raw layouts already keep
 * typical runs under 12 bytes per value (bench/RESULTS.md).
 *
 * - values: float32 when every value of the chunk is exactly a float32
 *   (losses, accuracies and gradient norms computed by tfjs are; integers
 *   below 2^24 are), else float64. A missing (non-finite) value is a NaN.
 *   Nothing is rounded: a value reads back exactly as it was recorded.
 * - steps: NULL when the chunk's steps are first_step, first_step + 1, ...;
 *   else uint32 offsets from first_step.
 * - axis (per run, contiguous steps): epoch as uint8 offsets from epoch0
 *   (uint16 when the chunk spans 256 epochs or more),
 *   samples as uint32 offsets from samples0, epochs_done and wall_time as
 *   float64: the x of every key logged at that step.
 * - explicit x (a chunk whose values were logged with an x other than the
 *   axis point of their step, e.g. epoch-end values): four float64 columns,
 *   epoch, epochs_done, samples, wall_time, one after the other.
 * - level-1 summary: per 64 values of a chunk, 52 bytes: the lowest value
 *   and the highest, each with its step (int32), its epochs done, samples
 *   and wall time (float32: for drawing only) and the value itself (float64:
 *   exact), then the count of values (int32). (A mean per bucket would cost
 *   4 bytes more and no view draws it.)
 */

/** Values per chunk (and steps per axis chunk). */
export const CHUNK_VALUES = 1024;
/** Values per level-1 summary bucket. */
export const BUCKET_VALUES = 64;
/** Bytes per level-1 bucket. */
export const BUCKET_BYTES = 52;

/** What one recorded value is: where in training (its x on every axis) and the value (NaN: none). */
export interface Point {
  step: number;
  epoch: number;
  epochsDone: number;
  samples: number;
  wallTime: number;
}

const le = true;

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** 4 when every value is exactly a float32 (or NaN), else 8. */
export function valueWidth(values: ArrayLike<number>): 4 | 8 {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isNaN(v) && Math.fround(v) !== v) return 8;
  }
  return 4;
}

export function encodeValues(values: ArrayLike<number>, width: 4 | 8): Buffer {
  const out = Buffer.alloc(values.length * width);
  const d = view(out);
  for (let i = 0; i < values.length; i++) {
    if (width === 4) d.setFloat32(i * 4, values[i] as number, le);
    else d.setFloat64(i * 8, values[i] as number, le);
  }
  return out;
}

export function decodeValues(buf: Uint8Array, width: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const d = view(buf);
  for (let i = 0; i < n; i++)
    out[i] = width === 4 ? d.getFloat32(i * 4, le) : d.getFloat64(i * 8, le);
  return out;
}

/** NULL when contiguous from steps[0], else uint32 offsets. */
export function encodeSteps(steps: ArrayLike<number>): Buffer | null {
  const first = steps[0] as number;
  let contiguous = true;
  for (let i = 1; i < steps.length; i++)
    if ((steps[i] as number) !== first + i) {
      contiguous = false;
      break;
    }
  if (contiguous) return null;
  const out = Buffer.alloc(steps.length * 4);
  const d = view(out);
  for (let i = 0; i < steps.length; i++) d.setUint32(i * 4, (steps[i] as number) - first, le);
  return out;
}

export function decodeSteps(buf: Uint8Array | null, first: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (!buf) {
    for (let i = 0; i < n; i++) out[i] = first + i;
    return out;
  }
  const d = view(buf);
  for (let i = 0; i < n; i++) out[i] = first + d.getUint32(i * 4, le);
  return out;
}

export type UintWidth = 1 | 2 | 4;

export function encodeUints(xs: ArrayLike<number>, base: number, width: UintWidth): Buffer {
  const out = Buffer.alloc(xs.length * width);
  const d = view(out);
  for (let i = 0; i < xs.length; i++) {
    const v = (xs[i] as number) - base;
    if (width === 1) d.setUint8(i, v);
    else if (width === 2) d.setUint16(i * 2, v, le);
    else d.setUint32(i * 4, v, le);
  }
  return out;
}

export function decodeUints(
  buf: Uint8Array,
  base: number,
  width: UintWidth,
  n: number,
): Float64Array {
  const out = new Float64Array(n);
  const d = view(buf);
  for (let i = 0; i < n; i++)
    out[i] =
      base +
      (width === 1 ? d.getUint8(i) : width === 2 ? d.getUint16(i * 2, le) : d.getUint32(i * 4, le));
  return out;
}

export function encodeF64(xs: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(xs.length * 8);
  const d = view(out);
  for (let i = 0; i < xs.length; i++) d.setFloat64(i * 8, xs[i] as number, le);
  return out;
}

export function decodeF64(buf: Uint8Array, n: number, offset = 0): Float64Array {
  const out = new Float64Array(n);
  const d = view(buf);
  for (let i = 0; i < n; i++) out[i] = d.getFloat64((offset + i) * 8, le);
  return out;
}

/** One level-1 bucket, as decoded. */
export interface Bucket {
  count: number;
  min: { step: number; value: number; epochsDone: number; samples: number; wallTime: number };
  max: { step: number; value: number; epochsDone: number; samples: number; wallTime: number };
}

/** Level-1 summary of a chunk: one bucket per BUCKET_VALUES values (empty buckets have count 0). */
export function encodeSummary(
  steps: ArrayLike<number>,
  values: ArrayLike<number>,
  x: { epochsDone: ArrayLike<number>; samples: ArrayLike<number>; wallTimes: ArrayLike<number> },
): Buffer {
  const n = values.length;
  const buckets = Math.ceil(n / BUCKET_VALUES);
  const out = Buffer.alloc(buckets * BUCKET_BYTES);
  const d = view(out);
  for (let b = 0; b < buckets; b++) {
    let lo = -1;
    let hi = -1;
    let count = 0;
    for (let i = b * BUCKET_VALUES; i < Math.min(n, (b + 1) * BUCKET_VALUES); i++) {
      const v = values[i] as number;
      if (Number.isNaN(v)) continue;
      count++;
      if (lo < 0 || v < (values[lo] as number)) lo = i;
      if (hi < 0 || v > (values[hi] as number)) hi = i;
    }
    const o = b * BUCKET_BYTES;
    for (const [at, i] of [
      [o, lo],
      [o + 24, hi],
    ] as const) {
      const j = Math.max(0, i);
      d.setInt32(at, steps[j] as number, le);
      d.setFloat32(at + 4, x.epochsDone[j] as number, le);
      d.setFloat32(at + 8, x.samples[j] as number, le);
      d.setFloat32(at + 12, x.wallTimes[j] as number, le);
      d.setFloat64(at + 16, i < 0 ? Number.NaN : (values[j] as number), le);
    }
    d.setInt32(o + 48, count, le);
  }
  return out;
}

/**
 * Calls `each` for every non-empty bucket with its count and its lowest and
 * highest point: step, x (`x`: 0 step, 1 epochs done, 2 samples, 3 wall
 * time) and value. No objects are made (a chart reads ~1,000 buckets per series).
 */
export function eachBucket(
  buf: Uint8Array,
  x: 0 | 1 | 2 | 3,
  each: (
    count: number,
    minStep: number,
    minX: number,
    min: number,
    maxStep: number,
    maxX: number,
    max: number,
  ) => void,
): void {
  const d = view(buf);
  for (let o = 0; o + BUCKET_BYTES <= buf.byteLength; o += BUCKET_BYTES) {
    const count = d.getInt32(o + 48, le);
    if (count === 0) continue;
    const minStep = d.getInt32(o, le);
    const maxStep = d.getInt32(o + 24, le);
    each(
      count,
      minStep,
      x === 0 ? minStep : d.getFloat32(o + 4 * x, le),
      d.getFloat64(o + 16, le),
      maxStep,
      x === 0 ? maxStep : d.getFloat32(o + 24 + 4 * x, le),
      d.getFloat64(o + 40, le),
    );
  }
}

export function decodeSummary(buf: Uint8Array): Bucket[] {
  const d = view(buf);
  const out: Bucket[] = [];
  for (let o = 0; o + BUCKET_BYTES <= buf.byteLength; o += BUCKET_BYTES) {
    const point = (at: number) => ({
      step: d.getInt32(at, le),
      epochsDone: d.getFloat32(at + 4, le),
      samples: d.getFloat32(at + 8, le),
      wallTime: d.getFloat32(at + 12, le),
      value: d.getFloat64(at + 16, le),
    });
    out.push({
      min: point(o),
      max: point(o + 24),
      count: d.getInt32(o + 48, le),
    });
  }
  return out;
}

// ---- the same decoders in SQL ------------------------------------------------

/** Byte `pos` (0-based SQL expression) of blob `b`, 0-255, from its two hex digits. */
function sqlByte(b: string, pos: string): string {
  const h = `hex(substr(${b}, ${pos} + 1, 1))`;
  return `(instr('123456789ABCDEF', substr(${h}, 1, 1)) * 16 + instr('123456789ABCDEF', substr(${h}, 2, 1)))`;
}

/** Unsigned little-endian integer of `width` bytes at byte offset `pos`. */
export function sqlUint(b: string, pos: string, width: number): string {
  const parts: string[] = [];
  for (let k = 0; k < width; k++) parts.push(`${sqlByte(b, `(${pos}) + ${k}`)} * ${2 ** (8 * k)}`);
  return `(${parts.join(" + ")})`;
}

/** 2^e from the metric_pow2 table (no math functions needed). */
function sqlPow2(e: string): string {
  return `(SELECT v FROM metric_pow2 WHERE e = ${e})`;
}

/** IEEE float (width 4 or 8) at byte offset `pos`; NULL for NaN. */
export function sqlFloat(b: string, pos: string, width: 4 | 8): string {
  const top = sqlByte(b, `(${pos}) + ${width - 1}`);
  const next = sqlByte(b, `(${pos}) + ${width - 2}`);
  const sign = `(CASE WHEN ${top} >= 128 THEN -1 ELSE 1 END)`;
  if (width === 8) {
    const exp = `((${top} % 128) * 16 + ${next} / 16)`;
    const mant = `((${next} % 16) * 281474976710656 + ${sqlUint(b, pos, 6)})`;
    return `(CASE ${exp} WHEN 2047 THEN NULL WHEN 0 THEN ${sign} * ${mant} * ${sqlPow2("-1074")}
      ELSE ${sign} * (${mant} + 4503599627370496) * ${sqlPow2(`${exp} - 1075`)} END)`;
  }
  const exp = `((${top} % 128) * 2 + ${next} / 128)`;
  const mant = `((${next} % 128) * 65536 + ${sqlUint(b, pos, 2)})`;
  return `(CASE ${exp} WHEN 255 THEN NULL WHEN 0 THEN ${sign} * ${mant} * ${sqlPow2("-149")}
    ELSE ${sign} * (${mant} + 8388608) * ${sqlPow2(`${exp} - 150`)} END)`;
}
