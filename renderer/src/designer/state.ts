/**
 * The designer's edits as pure functions on the schedule document: each takes
 * a document and returns a new one (documents are never mutated, so the undo
 * stack can keep them as they are).
 *
 * Two modes: lanes (an `lr` and a `batch` spec; delta is computed) and
 * smoothing-first (a `smoothing` section: delta's trajectory, the split and the
 * base LR and batch; the LR and batch lanes are computed). Conversions between
 * modes and from a family to keyframes use the compiled per-epoch table, so the
 * curves stay where they were.
 */
import { toEpochTimeDoc } from "../../../core/schedule/relative";
import { defaultSpec } from "./forms";
import { keyframesFromValues } from "./keyframes";
import type { Doc, Interpolation, LaneId, Point, SmoothingDoc, Spec } from "./types";

/** What the conversions need of the compiled per-epoch table (core's EpochRow). */
export interface EpochValues {
  lr: number;
  batchSize: number;
  delta: number;
}

export type Mode = "lanes" | "smoothing";

export function modeOf(doc: Doc): Mode {
  return doc.smoothing ? "smoothing" : "lanes";
}

/** The spec a lane is edited through: lr and batch in lanes mode, delta in smoothing mode. */
export function laneSpec(doc: Doc, lane: LaneId): Spec | undefined {
  if (lane === "delta") return doc.smoothing?.delta;
  return doc.smoothing ? undefined : doc[lane];
}

/** Whether a lane is edited (true) or computed from the others (false). */
export function isEditable(doc: Doc, lane: LaneId): boolean {
  return laneSpec(doc, lane) !== undefined;
}

export interface Warmup {
  epochs: number;
  startFactor?: number;
}

/** An LR spec as an optional warmup in front of the family the form edits. */
export function splitWarmup(spec: Spec): { warmup: Warmup | null; inner: Spec } {
  if (spec.kind === "warmup" && spec.schedule && typeof spec.schedule === "object") {
    const w: Warmup = { epochs: Number(spec.epochs) };
    if (spec.startFactor !== undefined) w.startFactor = Number(spec.startFactor);
    return { warmup: w, inner: spec.schedule as Spec };
  }
  return { warmup: null, inner: spec };
}

export function joinWarmup(warmup: Warmup | null, inner: Spec): Spec {
  if (!warmup) return inner;
  return {
    kind: "warmup",
    epochs: warmup.epochs,
    ...(warmup.startFactor === undefined ? {} : { startFactor: warmup.startFactor }),
    schedule: inner,
  };
}

/** Replaces the spec a lane is edited through. */
export function setLane(doc: Doc, lane: LaneId, spec: Spec): Doc {
  if (lane === "delta") {
    if (!doc.smoothing) return doc;
    return { ...doc, smoothing: { ...doc.smoothing, delta: spec } };
  }
  if (doc.smoothing) return doc;
  return { ...doc, [lane]: spec };
}

export function setSmoothing(doc: Doc, patch: Partial<SmoothingDoc>): Doc {
  if (!doc.smoothing) return doc;
  const next: SmoothingDoc = { ...doc.smoothing, ...patch };
  for (const key of ["roundTo", "max"] as const) if (next[key] === undefined) delete next[key];
  return { ...doc, smoothing: next };
}

export interface RunPatch {
  name?: string;
  epochs?: number;
  per?: "epoch" | "step";
  dropLast?: boolean;
}

export function setRun(doc: Doc, patch: RunPatch): Doc {
  const next: Doc = { ...doc, ...patch };
  if (patch.name !== undefined && patch.name.trim() === "") delete next.name;
  return next;
}

/** The lane's value at epoch 0 as the spec states it (base LR, first batch size). */
export function baseValue(spec: Spec | undefined, fallback: number): number {
  if (!spec) return fallback;
  const pick = (...xs: unknown[]) => xs.find((x): x is number => typeof x === "number" && x > 0);
  if (spec.kind === "warmup" && spec.schedule) return baseValue(spec.schedule as Spec, fallback);
  if (spec.kind === "sequence" && Array.isArray(spec.pieces)) {
    const first = (spec.pieces[0] as { schedule?: Spec } | undefined)?.schedule;
    return baseValue(first, fallback);
  }
  if (spec.kind === "keyframes" && Array.isArray(spec.points))
    return pick((spec.points[0] as Point | undefined)?.value) ?? fallback;
  return pick(spec.lr, spec.maxLr, spec.size) ?? fallback;
}

/** Batch limits a batch spec carries, to keep across a change of family. */
function batchLimits(spec: Spec | undefined): { roundTo?: number; max?: number } {
  const out: { roundTo?: number; max?: number } = {};
  if (typeof spec?.roundTo === "number") out.roundTo = spec.roundTo;
  if (typeof spec?.max === "number") out.max = spec.max;
  return out;
}

/**
 * Switches a lane to another family. To keyframes, the points reproduce the
 * compiled lane (`rows`, one per epoch) when given; to a family, its defaults
 * start from the lane's base value. An LR warmup stays in front of the new
 * family (keyframes bake it in).
 */
export function setFamily(
  doc: Doc,
  lane: LaneId,
  kind: string,
  rows?: readonly EpochValues[],
): Doc {
  const current = laneSpec(doc, lane);
  if (!current) return doc;
  if (current.kind === kind) return doc;
  if (lane === "lr") {
    const { warmup, inner } = splitWarmup(current);
    if (inner.kind === kind) return doc;
    if (kind === "keyframes") {
      const kf = rows
        ? keyframesFromValues(rows.map((r) => r.lr))
        : {
            points: [{ epoch: 0, value: baseValue(current, 0.1) }],
            interpolation: "linear" as const,
          };
      return setLane(doc, lane, { kind, interpolation: kf.interpolation, points: kf.points });
    }
    const spec = defaultSpec(lane, kind, { epochs: doc.epochs, base: baseValue(current, 0.1) });
    return setLane(doc, lane, joinWarmup(warmup, spec));
  }
  if (lane === "batch") {
    const limits = batchLimits(current);
    if (kind === "keyframes" && rows) {
      const kf = keyframesFromValues(
        rows.map((r) => r.batchSize),
        { maxHoldPoints: 64 },
      );
      return setLane(doc, lane, {
        kind,
        interpolation: kf.interpolation === "log" ? "linear" : kf.interpolation,
        points: kf.interpolation === "log" ? kf.points.map(wholeValue) : kf.points,
        ...limits,
      });
    }
    const spec = defaultSpec(lane, kind, { epochs: doc.epochs, base: baseValue(current, 128) });
    return setLane(doc, lane, { ...spec, ...limits });
  }
  if (kind === "keyframes" && rows) {
    return setLane(doc, lane, { kind, ...deltaKeyframes(rows) });
  }
  return setLane(doc, lane, defaultSpec(lane, kind, { epochs: doc.epochs, base: 1 }));
}

function wholeValue(p: Point): Point {
  return { ...p, value: Math.max(1, Math.round(p.value)) };
}

/** delta relative to its start, as keyframes starting at 1. */
function deltaKeyframes(rows: readonly EpochValues[]): {
  points: Point[];
  interpolation: Interpolation;
} {
  const d0 = rows[0]?.delta ?? 1;
  return keyframesFromValues(rows.map((r) => r.delta / d0));
}

/** The keyframes of a lane, when it is a keyframes lane. */
export function keyframesOf(
  doc: Doc,
  lane: LaneId,
): { points: Point[]; interpolation: Interpolation } | null {
  const spec = laneSpec(doc, lane);
  if (!spec || spec.kind !== "keyframes" || !Array.isArray(spec.points)) return null;
  const fallback: Interpolation = lane === "batch" ? "hold" : "linear";
  return {
    points: spec.points as Point[],
    interpolation: (spec.interpolation as Interpolation | undefined) ?? fallback,
  };
}

export function setKeyframes(doc: Doc, lane: LaneId, points: Point[]): Doc {
  const spec = laneSpec(doc, lane);
  if (!spec || spec.kind !== "keyframes") return doc;
  return setLane(doc, lane, { ...spec, points });
}

/**
 * Share of delta's decay that batch growth took in a compiled schedule:
 * ln(b_end / b_0) / (-2 ln(delta_end / delta_0)), in [0, 1]; null when delta
 * does not decay.
 */
export function impliedSplit(rows: readonly EpochValues[]): number | null {
  const first = rows[0];
  const last = rows.at(-1);
  if (!first || !last) return null;
  const r = last.delta / first.delta;
  if (!(r > 0) || r >= 1 - 1e-9) return null;
  const s = Math.log(last.batchSize / first.batchSize) / (-2 * Math.log(r));
  return Math.min(1, Math.max(0, s));
}

/**
 * Lanes -> smoothing-first. With the compiled table, delta keeps the
 * trajectory it had (as keyframes) and the split is what the lanes implied;
 * a schedule whose delta never decays starts from the paper's stages
 * (1/√2 every E/5 epochs) split evenly.
 */
export function toSmoothingFirst(doc: Doc, rows?: readonly EpochValues[]): Doc {
  if (doc.smoothing) return doc;
  const first = rows?.[0];
  const usable = rows && first && first.lr > 0 && first.delta > 0 ? rows : undefined;
  const lr = usable ? (first as EpochValues).lr : baseValue(doc.lr, 0.1);
  const batch = first?.batchSize ?? Math.round(baseValue(doc.batch, 128));
  const split = usable ? impliedSplit(usable) : null;
  const delta: Spec =
    usable && split !== null
      ? { kind: "keyframes", ...deltaKeyframes(usable) }
      : defaultSpec("delta", "stagewise", { epochs: doc.epochs, base: 1 });
  const smoothing: SmoothingDoc = {
    delta,
    split: split === null ? 0.5 : Number(split.toFixed(4)),
    lr,
    batch,
    ...batchLimits(doc.batch),
  };
  const { lr: _lr, batch: _batch, ...rest } = doc;
  return { ...rest, smoothing };
}

/**
 * Smoothing-first -> lanes: keyframes that reproduce the compiled LR and batch
 * size (a stagewise trajectory gives a few `hold` points per lane). Without a
 * compiled table, constant lanes at the base values.
 */
export function toLaneMode(doc: Doc, rows?: readonly EpochValues[]): Doc {
  const sm = doc.smoothing;
  if (!sm) return doc;
  const limits: { roundTo?: number; max?: number } = {};
  if (sm.roundTo !== undefined) limits.roundTo = sm.roundTo;
  if (sm.max !== undefined) limits.max = sm.max;
  let lr: Spec = { kind: "constant", lr: sm.lr };
  let batch: Spec = { kind: "constant", size: sm.batch, ...limits };
  if (rows && rows.length > 0) {
    const l = keyframesFromValues(rows.map((r) => r.lr));
    const b = keyframesFromValues(
      rows.map((r) => r.batchSize),
      { maxHoldPoints: 64 },
    );
    lr =
      l.points.length === 1
        ? lr
        : { kind: "keyframes", interpolation: l.interpolation, points: l.points };
    batch =
      b.points.length === 1
        ? batch
        : {
            kind: "keyframes",
            interpolation: b.interpolation === "log" ? "linear" : "hold",
            points: b.interpolation === "log" ? b.points.map(wholeValue) : b.points,
            ...limits,
          };
  }
  const { smoothing: _s, ...rest } = doc;
  return { ...rest, lr, batch };
}

/** A file name for the document: its name, made safe, and .json. */
export function fileName(doc: Doc): string {
  const base = (doc.name ?? "schedule").trim().replace(/[^A-Za-z0-9._-]+/g, "_") || "schedule";
  return `${base}.json`;
}

/** The document as it is saved: pretty JSON with a final newline. */
export function toJson(doc: Doc): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Structural equality of two documents (for the undo stack). */
export function sameDoc(a: Doc, b: Doc): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * A document the designer is given (a preset, an opened file) in epoch time:
 * one relative to the run (`version: 2, time: "run"`, times as fractions of
 * the run) is shown and edited at its own length, its times in epochs.
 */
export function toEpochTime(
  doc: Doc | (Omit<Doc, "version"> & { version: 2; time?: string }),
): Doc {
  return toEpochTimeDoc(doc as Doc & { time?: string }) as Doc;
}

/** True for a document whose times are fractions of the run. */
export function isRelativeDoc(doc: unknown): boolean {
  return (doc as { time?: unknown } | null)?.time === "run";
}
