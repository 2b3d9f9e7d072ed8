/**
 * The parameter forms of the families: which fields each family has, how a
 * lane's spec fills the form (readForm) and how the form's text turns back into
 * a spec (writeForm), with a message per field that cannot be read. Range
 * checks (gamma > 0, increasing milestones, ...) are the service's: its
 * validation issues are mapped back onto the fields by path (issuesByField).
 */
import type { ScheduleIssue } from "../../../core/schedule/validate";
import type { LaneId, Spec } from "./types";

export type FieldType = "number" | "int" | "list" | "enum" | "bool";

export interface FieldDef {
  key: string;
  label: string;
  type: FieldType;
  /** May be left empty: the format's default applies (shown as the placeholder). */
  optional?: boolean;
  /** The format's default, shown when the field is empty. */
  placeholder?: string;
  options?: readonly string[];
  /** What the field means, for its tooltip. */
  hint: string;
  min?: number;
  max?: number;
  step?: number | "any";
}

export interface Family {
  kind: string;
  title: string;
  fields: readonly FieldDef[];
}

const INTERPOLATIONS = ["linear", "log", "cosine", "hold"] as const;

const lr: FieldDef = { key: "lr", label: "lr", type: "number", hint: "base learning rate", min: 0 };
const gamma = (hint: string): FieldDef => ({
  key: "gamma",
  label: "γ",
  type: "number",
  hint,
  min: 0,
});
const milestones: FieldDef = {
  key: "milestones",
  label: "milestones",
  type: "list",
  hint: "epochs at which the factor applies, increasing, e.g. 60, 120, 160",
};
const interpolation = (placeholder: string): FieldDef => ({
  key: "interpolation",
  label: "curve",
  type: "enum",
  options: INTERPOLATIONS,
  optional: true,
  placeholder,
  hint: "how the lane runs between points: linear, log (straight on a log axis), cosine, hold (steps)",
});

export const LR_FAMILIES: readonly Family[] = [
  { kind: "constant", title: "constant", fields: [lr] },
  {
    kind: "step",
    title: "step",
    fields: [
      lr,
      { key: "stepSize", label: "every", type: "number", hint: "epochs per stage", min: 0 },
      gamma("factor between stages, e.g. 0.7071 = 1/√2"),
    ],
  },
  {
    kind: "multistep",
    title: "multistep",
    fields: [lr, milestones, gamma("factor at each milestone")],
  },
  {
    kind: "exponential",
    title: "exponential",
    fields: [lr, gamma("factor per epoch, e.g. 0.97")],
  },
  {
    kind: "cosine",
    title: "cosine",
    fields: [
      lr,
      { key: "tMax", label: "T_max", type: "number", hint: "epochs of the half cosine", min: 0 },
      {
        key: "etaMin",
        label: "η_min",
        type: "number",
        optional: true,
        placeholder: "0",
        hint: "lowest LR",
        min: 0,
      },
    ],
  },
  {
    kind: "cosine-restarts",
    title: "cosine restarts",
    fields: [
      lr,
      { key: "t0", label: "T_0", type: "number", hint: "epochs of the first cycle", min: 0 },
      {
        key: "tMult",
        label: "T_mult",
        type: "int",
        optional: true,
        placeholder: "1",
        hint: "each cycle is this many times longer than the last (whole number)",
        min: 1,
        step: 1,
      },
      {
        key: "etaMin",
        label: "η_min",
        type: "number",
        optional: true,
        placeholder: "0",
        hint: "lowest LR",
        min: 0,
      },
    ],
  },
  {
    kind: "polynomial",
    title: "polynomial",
    fields: [
      lr,
      {
        key: "totalIters",
        label: "epochs",
        type: "number",
        hint: "epochs until the LR reaches 0",
        min: 0,
      },
      {
        key: "power",
        label: "power",
        type: "number",
        optional: true,
        placeholder: "1",
        hint: "1 = linear decay",
        min: 0,
      },
    ],
  },
  {
    kind: "linear",
    title: "linear",
    fields: [
      lr,
      {
        key: "startFactor",
        label: "from",
        type: "number",
        optional: true,
        placeholder: "0.3333",
        hint: "factor of lr at the start (PyTorch default 1/3)",
        min: 0,
        max: 1,
      },
      {
        key: "endFactor",
        label: "to",
        type: "number",
        optional: true,
        placeholder: "1",
        hint: "factor of lr at the end",
        min: 0,
        max: 1,
      },
      {
        key: "totalIters",
        label: "epochs",
        type: "number",
        optional: true,
        placeholder: "5",
        hint: "epochs from start to end factor",
        min: 0,
      },
    ],
  },
  {
    kind: "onecycle",
    title: "one-cycle",
    fields: [
      { key: "maxLr", label: "max lr", type: "number", hint: "peak learning rate", min: 0 },
      {
        key: "epochs",
        label: "cycle",
        type: "number",
        optional: true,
        placeholder: "whole run",
        hint: "length of the cycle in epochs",
        min: 0,
      },
      {
        key: "pctStart",
        label: "pct up",
        type: "number",
        optional: true,
        placeholder: "0.3",
        hint: "share of the cycle spent rising",
        min: 0,
        max: 1,
      },
      {
        key: "anneal",
        label: "anneal",
        type: "enum",
        options: ["cos", "linear"],
        optional: true,
        placeholder: "cos",
        hint: "shape of the rise and the fall",
      },
      {
        key: "divFactor",
        label: "div",
        type: "number",
        optional: true,
        placeholder: "25",
        hint: "start LR = max lr / div",
        min: 0,
      },
      {
        key: "finalDivFactor",
        label: "final div",
        type: "number",
        optional: true,
        placeholder: "10000",
        hint: "final LR = start LR / final div",
        min: 0,
      },
      {
        key: "threePhase",
        label: "3-phase",
        type: "bool",
        optional: true,
        placeholder: "false",
        hint: "PyTorch's three_phase",
      },
    ],
  },
  { kind: "keyframes", title: "keyframes (drag)", fields: [interpolation("linear")] },
];

const roundTo: FieldDef = {
  key: "roundTo",
  label: "round to",
  type: "int",
  optional: true,
  placeholder: "1",
  hint: "round every batch size to a multiple of this, e.g. 8",
  min: 1,
  step: 1,
};
const maxBatch: FieldDef = {
  key: "max",
  label: "max",
  type: "int",
  optional: true,
  placeholder: "none",
  hint: "never exceed this batch size (what fits in memory)",
  min: 1,
  step: 1,
};
const size: FieldDef = {
  key: "size",
  label: "size",
  type: "int",
  hint: "batch size at epoch 0",
  min: 1,
  step: 1,
};
const bfactor: FieldDef = {
  key: "factor",
  label: "×",
  type: "number",
  hint: "growth factor, e.g. 2",
  min: 0,
};

export const BATCH_FAMILIES: readonly Family[] = [
  { kind: "constant", title: "constant", fields: [size, roundTo, maxBatch] },
  {
    kind: "step",
    title: "step",
    fields: [
      size,
      bfactor,
      { key: "every", label: "every", type: "number", hint: "epochs per stage", min: 0 },
      roundTo,
      maxBatch,
    ],
  },
  { kind: "multistep", title: "multistep", fields: [size, milestones, bfactor, roundTo, maxBatch] },
  {
    kind: "exponential",
    title: "exponential",
    fields: [
      size,
      { key: "rate", label: "rate", type: "number", hint: "factor per epoch, e.g. 1.02", min: 0 },
      roundTo,
      maxBatch,
    ],
  },
  {
    kind: "polynomial",
    title: "polynomial",
    fields: [
      size,
      { key: "end", label: "end", type: "int", hint: "batch size at the end", min: 1, step: 1 },
      {
        key: "epochs",
        label: "epochs",
        type: "number",
        optional: true,
        placeholder: "whole run",
        hint: "epochs to reach the end size",
        min: 0,
      },
      {
        key: "power",
        label: "power",
        type: "number",
        optional: true,
        placeholder: "1",
        hint: "shape of the growth",
        min: 0,
      },
      roundTo,
      maxBatch,
    ],
  },
  {
    kind: "keyframes",
    title: "keyframes (drag)",
    fields: [interpolation("hold"), roundTo, maxBatch],
  },
];

export const DELTA_FAMILIES: readonly Family[] = [
  {
    kind: "stagewise",
    title: "stagewise (paper)",
    fields: [
      gamma("factor per stage, e.g. 0.7071 = 1/√2"),
      { key: "every", label: "every", type: "number", hint: "epochs per stage", min: 0 },
    ],
  },
  {
    kind: "polynomial",
    title: "polynomial (optimal)",
    fields: [
      {
        key: "power",
        label: "p",
        type: "number",
        hint: "δ/δ₀ = (1 − t/E)^p; the paper's optimum 0 < p ≤ 1",
        min: 0,
      },
      {
        key: "stages",
        label: "stages",
        type: "int",
        optional: true,
        placeholder: "smooth",
        hint: "M stages of E/M epochs each (stage m: (1 − m/M)^p)",
        min: 1,
        step: 1,
      },
    ],
  },
  { kind: "keyframes", title: "keyframes (draw)", fields: [interpolation("linear")] },
];

/** The fields of the smoothing-first section besides delta itself. */
export const SMOOTHING_FIELDS = {
  lr: { ...lr, hint: "learning rate at epoch 0" } satisfies FieldDef,
  batch: { ...size, key: "batch", label: "batch" } satisfies FieldDef,
  roundTo,
  max: maxBatch,
};

export const WARMUP_FIELDS: readonly FieldDef[] = [
  { key: "epochs", label: "epochs", type: "number", hint: "epochs of linear warmup", min: 0 },
  {
    key: "startFactor",
    label: "from",
    type: "number",
    optional: true,
    placeholder: "0.01",
    hint: "start at this factor of the LR",
    min: 0,
    max: 1,
  },
];

export function familiesOf(lane: LaneId): readonly Family[] {
  return lane === "lr" ? LR_FAMILIES : lane === "batch" ? BATCH_FAMILIES : DELTA_FAMILIES;
}

export function familyOf(lane: LaneId, kind: string): Family | undefined {
  return familiesOf(lane).find((f) => f.kind === kind);
}

export type FormValues = Record<string, string>;

/** The text each field shows for a spec ("" where the spec leaves the default). */
export function readFields(fields: readonly FieldDef[], spec: Record<string, unknown>): FormValues {
  const out: FormValues = {};
  for (const f of fields) {
    const v = spec[f.key];
    if (v === undefined || v === null) out[f.key] = "";
    else if (Array.isArray(v)) out[f.key] = v.map(String).join(", ");
    else out[f.key] = String(v);
  }
  return out;
}

export function readForm(lane: LaneId, spec: Spec): FormValues {
  return readFields(familyOf(lane, spec.kind)?.fields ?? [], spec);
}

export type WriteResult<T> = { ok: true; value: T } | { ok: false; errors: Record<string, string> };

/** Reads the form's text into field values; a message per field that cannot be read. */
export function writeFields(
  fields: readonly FieldDef[],
  values: FormValues,
): WriteResult<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const text = (values[f.key] ?? "").trim();
    if (text === "") {
      if (!f.optional) errors[f.key] = `${f.label} is required`;
      continue;
    }
    const parsed = parseField(f, text);
    if (isError(parsed)) errors[f.key] = parsed.error;
    else out[f.key] = parsed;
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, value: out };
}

function isError(x: unknown): x is { error: string } {
  return typeof x === "object" && x !== null && !Array.isArray(x) && "error" in x;
}

function parseNumber(text: string): number | null {
  // Number("") is 0 and Number("0x10") is 16: accept decimal and exponent notation only.
  if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text)) return null;
  const x = Number(text);
  return Number.isFinite(x) ? x : null;
}

function parseField(f: FieldDef, text: string): unknown {
  switch (f.type) {
    case "number": {
      const x = parseNumber(text);
      return x === null ? { error: `${f.label}: "${text}" is not a number` } : x;
    }
    case "int": {
      const x = parseNumber(text);
      if (x === null) return { error: `${f.label}: "${text}" is not a number` };
      return Number.isInteger(x) ? x : { error: `${f.label} must be a whole number` };
    }
    case "list": {
      const parts = text.split(/[\s,;]+/).filter((p) => p !== "");
      const xs = parts.map(parseNumber);
      const bad = parts.find((_, i) => xs[i] === null);
      return bad !== undefined ? { error: `${f.label}: "${bad}" is not a number` } : xs;
    }
    case "enum":
      return f.options?.includes(text)
        ? text
        : { error: `${f.label}: use one of ${(f.options ?? []).join(", ")}` };
    case "bool":
      return text === "true"
        ? true
        : text === "false"
          ? false
          : { error: `${f.label}: true or false` };
  }
}

/**
 * The spec a family's form describes, from the values read off the form.
 * Fields the form does not show (keyframe points) are kept from `previous`
 * when it is of the same kind.
 */
export function specFromValues(
  kind: string,
  fields: readonly FieldDef[],
  values: Record<string, unknown>,
  previous?: Spec,
): Spec {
  const keep: Record<string, unknown> = {};
  if (previous && previous.kind === kind) {
    const shown = new Set(fields.map((f) => f.key));
    for (const [k, v] of Object.entries(previous)) if (!shown.has(k) && k !== "kind") keep[k] = v;
  }
  return { kind, ...keep, ...values };
}

/** The spec a family's form text describes, or a message per field that cannot be read. */
export function writeForm(
  lane: LaneId,
  kind: string,
  values: FormValues,
  previous?: Spec,
): WriteResult<Spec> {
  const family = familyOf(lane, kind);
  if (!family) return { ok: false, errors: { kind: `unknown ${lane} family "${kind}"` } };
  const read = writeFields(family.fields, values);
  if (!read.ok) return read;
  return { ok: true, value: specFromValues(kind, family.fields, read.value, previous) };
}

/**
 * Validation issues (from `schedules.validate`) of one spec, keyed by its
 * field: `lr.schedule.milestones[1]` under prefix `lr.schedule` is `milestones`.
 */
export function issuesByField(
  issues: readonly ScheduleIssue[],
  prefix: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  const head = `${prefix}.`;
  for (const iss of issues) {
    if (!iss.path.startsWith(head)) continue;
    const rest = iss.path.slice(head.length);
    const key = /^[A-Za-z0-9_]+/.exec(rest)?.[0];
    if (key && out[key] === undefined) out[key] = iss.message;
  }
  return out;
}

const SQRT1_2 = Math.SQRT1_2;

/** Whole-number epochs at about the given fractions of the run, strictly increasing. */
function milestonesAt(epochs: number, fractions: readonly number[]): number[] {
  const out: number[] = [];
  for (const f of fractions) {
    const m = Math.max(1, Math.round(f * epochs));
    if (m < epochs && (out.length === 0 || m > (out.at(-1) as number))) out.push(m);
  }
  return out.length > 0 ? out : [Math.max(1, Math.floor(epochs / 2))];
}

export interface Defaults {
  epochs: number;
  /** The lane's current base value (LR, batch size) to keep across a change of family. */
  base: number;
}

/** A sensible spec of a family for a run, starting from the lane's current base value. */
export function defaultSpec(lane: LaneId, kind: string, d: Defaults): Spec {
  const E = Math.max(1, d.epochs);
  const stage = Math.max(1, Math.round(E / 5));
  const lrBase = d.base;
  const b = Math.max(1, Math.round(d.base));
  if (lane === "lr") {
    switch (kind) {
      case "constant":
        return { kind, lr: lrBase };
      case "step":
        return { kind, lr: lrBase, stepSize: stage, gamma: SQRT1_2 };
      case "multistep":
        return { kind, lr: lrBase, milestones: milestonesAt(E, [0.3, 0.6, 0.8]), gamma: 0.2 };
      case "exponential":
        return { kind, lr: lrBase, gamma: Number((0.01 ** (1 / E)).toPrecision(4)) };
      case "cosine":
        return { kind, lr: lrBase, tMax: E, etaMin: 0 };
      case "cosine-restarts":
        return { kind, lr: lrBase, t0: Math.max(1, Math.round(E / 7)), tMult: 2, etaMin: 0 };
      case "polynomial":
        return { kind, lr: lrBase, totalIters: E, power: 1 };
      case "linear":
        return { kind, lr: lrBase, startFactor: 1, endFactor: 0.01, totalIters: E };
      case "onecycle":
        return { kind, maxLr: lrBase, pctStart: 0.3, anneal: "cos" };
      default:
        return {
          kind: "keyframes",
          interpolation: "linear",
          points: [{ epoch: 0, value: lrBase }],
        };
    }
  }
  if (lane === "batch") {
    switch (kind) {
      case "constant":
        return { kind, size: b };
      case "step":
        return { kind, size: b, factor: 2, every: stage };
      case "multistep":
        return { kind, size: b, milestones: milestonesAt(E, [0.3, 0.6, 0.8]), factor: 2 };
      case "exponential":
        return { kind, size: b, rate: Number((8 ** (1 / E)).toPrecision(4)) };
      case "polynomial":
        return { kind, size: b, end: b * 8, power: 1 };
      default:
        return { kind: "keyframes", interpolation: "hold", points: [{ epoch: 0, value: b }] };
    }
  }
  switch (kind) {
    case "stagewise":
      return { kind, gamma: SQRT1_2, every: stage };
    case "polynomial":
      return { kind, power: 0.5, stages: 5 };
    default:
      return {
        kind: "keyframes",
        interpolation: "log",
        points: [
          { epoch: 0, value: 1 },
          { epoch: E, value: 0.1 },
        ],
      };
  }
}
