/**
 * Expansion of a sweep document into its members: one run spec per grid
 * point (or random draw) and seed, each with a stable member key. Pure and
 * deterministic: the same document (and the same C, when delta is swept)
 * gives the same members with the same keys, in the same order, so a sweep
 * can be expanded again after an edit (`extend`) and only new points are new.
 *
 * Order of application per member: `schedule` (a preset name or document),
 * `schedule.<path>` fields, `lr` / `batchSize` (schedule-params.ts), `delta`
 * (lr, and with a split the batch, follow from delta = lr * C / sqrt(b)),
 * then every other axis as a path into the run spec (`optimizer.kind`,
 * `model`, `epochs`, ...).
 */
import { createHash } from "node:crypto";
import { TrainSpecSchema } from "../api/spec.js";
import {
  type Axis,
  parseSweepSpec,
  SPECIAL_AXES,
  type SweepIssue,
  type SweepSpec,
  SweepSpecError,
} from "../api/sweep.js";
import { Rng } from "../data/rng.js";
import { findPreset, PRESETS, parseSchedule, ScheduleError } from "../schedule/index.js";
import {
  type Expression,
  ExpressionError,
  evaluate,
  parseExpression,
  truthy,
  variables,
} from "./expression.js";
import {
  ScheduleParamError,
  scheduleBatch,
  scheduleLr,
  withBatch,
  withLr,
} from "./schedule-params.js";

/** Members a sweep may have: expanding and queueing more is a mistake, not a plan. */
export const MAX_MEMBERS = 10_000;

export interface ExpandedMember {
  /** Stable id of the member within its sweep: a hash of its axis values and seed. */
  key: string;
  /** Axis values and seed (with delta swept: the lr and batchSize it gave, too). */
  values: Record<string, unknown>;
  /** The member's run spec (schedule resolved to a document). */
  spec: Record<string, unknown>;
  lr: number | null;
  batchSize: number | null;
  /** The initial delta, when C is known. */
  delta: number | null;
}

export interface ExpandOptions {
  /** C, for a delta axis (the sweep's recorded estimate or the document's delta.noise). */
  noise?: number;
}

type Doc = Record<string, unknown>;
const RUN_FIELDS = Object.keys(TrainSpecSchema.shape);

/** Rounds a computed value to 12 significant digits, so 0.1 stays 0.1 (stable keys, readable values). */
export function tidy(x: number): number {
  return Number(x.toPrecision(12));
}

/** The values of a list or range axis, in order. */
export function axisValues(axis: Axis, path: string): unknown[] {
  if (Array.isArray(axis)) return axis;
  if ("random" in axis) return axis.values ?? [];
  const [lo, hi] = axis.range;
  const out: number[] = [];
  const log = axis.scale === "log";
  if (axis.count !== undefined) {
    for (let i = 0; i < axis.count; i++) {
      const t = i / (axis.count - 1);
      out.push(log ? lo * (hi / lo) ** t : lo + (hi - lo) * t);
    }
  } else {
    const step = axis.step as number;
    // Tolerance so that 0.1 + 0.1 + 0.1 reaches 0.3.
    for (let i = 0; i < 100_001; i++) {
      const v = log ? lo * step ** i : lo + step * i;
      if (v > hi * (1 + 1e-9)) break;
      out.push(v);
      if (i === 100_000)
        throw new SweepSpecError([
          {
            path: `${path}.step`,
            value: step,
            message: "this step makes more than 100,000 values; use a larger step",
          },
        ]);
    }
  }
  const values = out.map((v) => (axis.integer ? Math.round(v) : tidy(v)));
  return axis.integer ? [...new Set(values)] : values;
}

/** Key of a member: the same values (in any order) give the same key. */
export function memberKey(values: Record<string, unknown>): string {
  return createHash("sha256").update(canonical(values)).digest("hex").slice(0, 16);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Doc)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

/** A short readable label of a member's values ("lr=0.1 batchSize=128 seed=0"). */
export function memberLabel(values: Record<string, unknown>): string {
  return Object.entries(values)
    .map(
      ([k, v]) =>
        `${k}=${typeof v === "object" && v !== null ? ((v as Doc).name ?? "{...}") : String(v)}`,
    )
    .join(" ");
}

function seedsOf(spec: SweepSpec): number[] {
  if (spec.seeds === undefined) {
    const s = spec.base.seed;
    return [typeof s === "number" && Number.isInteger(s) && s >= 0 ? s : 0];
  }
  return typeof spec.seeds === "number"
    ? Array.from({ length: spec.seeds }, (_, i) => i)
    : [...new Set(spec.seeds)];
}

function setPath(target: Doc, path: string[], value: unknown): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (next === undefined || next === null) cur[key] = {};
    else if (typeof next !== "object" || Array.isArray(next))
      throw new ScheduleParamError(
        `${path.join(".")}: ${key} is not an object, so it has no field ${path.at(-1)}`,
      );
    cur = cur[key] as Doc;
  }
  cur[path.at(-1) as string] = structuredClone(value);
}

function resolveSchedule(value: unknown, where: string): Doc {
  if (typeof value === "string") {
    const preset = findPreset(value);
    if (!preset)
      throw new SweepSpecError([
        {
          path: where,
          value,
          message: `no schedule preset named "${value}"; use one of ${PRESETS.map((p) => p.name).join(", ")} or a schedule document`,
        },
      ]);
    return structuredClone(preset.schedule) as Doc;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new SweepSpecError([
      {
        path: where,
        value,
        message: "a schedule is a preset name or a schedule document (docs/schedules.md)",
      },
    ]);
  return structuredClone(value) as Doc;
}

/** Checks axis names and constraints before any member is made. */
function checkNames(spec: SweepSpec): Expression[] {
  const issues: SweepIssue[] = [];
  for (const name of Object.keys(spec.axes)) {
    const head = name.split(".")[0] as string;
    if ((SPECIAL_AXES as readonly string[]).includes(name)) continue;
    if (name.startsWith("schedule.")) continue;
    if (!RUN_FIELDS.includes(head))
      issues.push({
        path: `axes.${name}`,
        value: undefined,
        message: `unknown axis "${name}"; sweep lr, batchSize, delta, schedule, schedule.<field> (e.g. schedule.lr.gamma) or a run spec field (${RUN_FIELDS.filter((f) => f !== "schedule" && f !== "checkpointDir" && f !== "seed").join(", ")}; optimizer.kind, optimizer.momentum, ...)`,
      });
  }
  const known = new Set([...Object.keys(spec.axes), "seed", "lr", "batchSize", "delta"]);
  const trees: Expression[] = [];
  spec.constraints.forEach((text, i) => {
    try {
      const tree = parseExpression(text);
      const unknown = variables(tree).filter((v) => !known.has(v));
      if (unknown.length > 0)
        issues.push({
          path: `constraints[${i}]`,
          value: text,
          message: `unknown name ${unknown.map((u) => `"${u}"`).join(", ")}; a constraint reads the axes (${[...known].join(", ")})`,
        });
      trees.push(tree);
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      issues.push({ path: `constraints[${i}]`, value: text, message: err.message });
    }
  });
  if (issues.length > 0) throw new SweepSpecError(issues);
  return trees;
}

/** The axis combinations before seeds: every grid point, or the random draws. */
function points(spec: SweepSpec): Record<string, unknown>[] {
  const names = Object.keys(spec.axes);
  if (spec.method === "grid") {
    let combos: Record<string, unknown>[] = [{}];
    for (const name of names) {
      const values = axisValues(spec.axes[name] as Axis, `axes.${name}`);
      if (combos.length * values.length > MAX_MEMBERS)
        throw new SweepSpecError([
          {
            path: `axes.${name}`,
            value: undefined,
            message: `the grid grows past ${MAX_MEMBERS.toLocaleString("en")} points here; shrink an axis`,
          },
        ]);
      combos = combos.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
    }
    return combos;
  }
  // Random: draw i depends only on (spec.seed, i), so more draws (extend) keep the first ones.
  const root = Rng.from(`sweep:${spec.seed}`);
  return Array.from({ length: spec.count ?? 0 }, (_, i) => {
    const rng = root.fork(i);
    const point: Record<string, unknown> = {};
    for (const name of [...names].sort())
      point[name] = draw(spec.axes[name] as Axis, rng.fork(name), `axes.${name}`);
    return point;
  });
}

function draw(axis: Axis, rng: Rng, path: string): unknown {
  if (!Array.isArray(axis) && "random" in axis) {
    const min = axis.min as number;
    const max = axis.max as number;
    switch (axis.random) {
      case "choice":
        return (axis.values as unknown[])[rng.int((axis.values as unknown[]).length)];
      case "int":
        return Math.ceil(min) + rng.int(Math.floor(max) - Math.ceil(min) + 1);
      case "uniform":
        return Number(rng.uniform(min, max).toPrecision(6));
      case "log-uniform":
        return Number(Math.exp(rng.uniform(Math.log(min), Math.log(max))).toPrecision(6));
    }
  }
  const values = axisValues(axis, path);
  return values[rng.int(values.length)];
}

/**
 * Expands a sweep document (validated here) into its members. Throws
 * SweepSpecError for a bad document, an axis value the run spec refuses, or
 * a delta axis without C (estimate it first: core/service/sweeps.ts does).
 */
export function expandSweep(input: unknown, options: ExpandOptions = {}): ExpandedMember[] {
  const spec = parseSweepSpec(input);
  const constraints = checkNames(spec);
  const c = spec.delta?.noise ?? options.noise;
  const sweepsDelta = Object.hasOwn(spec.axes, "delta");
  if (sweepsDelta && c === undefined)
    throw new SweepSpecError([
      {
        path: "delta.noise",
        value: undefined,
        message:
          "sweeping delta needs C: give delta.noise, or let the service estimate it (sweeps.create does)",
      },
    ]);
  if (spec.base.schedule === undefined)
    throw new SweepSpecError([
      {
        path: "base.schedule",
        value: undefined,
        message:
          'the base spec needs a schedule (a preset name such as "paper-hybrid", or a document)',
      },
    ]);
  const seeds = seedsOf(spec);
  const out: ExpandedMember[] = [];
  const seen = new Set<string>();
  for (const point of points(spec)) {
    for (const seed of seeds) {
      const values = { ...point, seed };
      const key = memberKey(values);
      if (seen.has(key)) continue; // a random draw equal to an earlier one
      const member = build(spec, values, c);
      const scope = { ...values, lr: member.lr, batchSize: member.batchSize, delta: member.delta };
      if (!constraints.every((tree, i) => truthy(evaluateSafely(tree, scope, i)))) continue;
      seen.add(key);
      out.push({
        ...member,
        key,
        values: sweepsDelta ? { ...values, lr: member.lr, batchSize: member.batchSize } : values,
      });
      if (out.length > MAX_MEMBERS)
        throw new SweepSpecError([
          {
            path: "axes",
            value: undefined,
            message: `more than ${MAX_MEMBERS.toLocaleString("en")} members; shrink an axis or the seeds`,
          },
        ]);
    }
  }
  return out;
}

function evaluateSafely(tree: Expression, scope: Record<string, unknown>, index: number) {
  try {
    return evaluate(tree, scope);
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    throw new SweepSpecError([
      { path: `constraints[${index}]`, value: undefined, message: err.message },
    ]);
  }
}

function build(
  spec: SweepSpec,
  values: Record<string, unknown>,
  c: number | undefined,
): Omit<ExpandedMember, "key" | "values"> {
  const run: Doc = structuredClone(spec.base);
  const fail = (path: string, value: unknown, message: string): never => {
    throw new SweepSpecError([{ path, value, message }]);
  };
  let schedule = resolveSchedule(
    Object.hasOwn(values, "schedule") ? values.schedule : run.schedule,
    Object.hasOwn(values, "schedule") ? "axes.schedule" : "base.schedule",
  );
  for (const [name, value] of Object.entries(values)) {
    if (!name.startsWith("schedule.")) continue;
    try {
      setPath(schedule, name.split(".").slice(1), value);
    } catch (err) {
      fail(`axes.${name}`, value, (err as Error).message);
    }
  }
  const apply = (name: string, fn: () => Doc) => {
    try {
      schedule = fn();
    } catch (err) {
      if (err instanceof ScheduleParamError) fail(`axes.${name}`, values[name], err.message);
      throw err;
    }
  };
  if (Object.hasOwn(values, "lr")) {
    const lr = values.lr;
    if (typeof lr !== "number" || !(lr > 0))
      fail("axes.lr", lr, "a learning rate must be a number > 0");
    apply("lr", () => withLr(schedule, lr as number));
  }
  if (Object.hasOwn(values, "batchSize")) {
    const b = values.batchSize;
    if (typeof b !== "number" || !Number.isInteger(b) || b < 1)
      fail(
        "axes.batchSize",
        b,
        'a batch size must be a whole number >= 1 (a range needs "integer": true)',
      );
    apply("batchSize", () => withBatch(schedule, b as number));
  }
  if (Object.hasOwn(values, "delta")) {
    const delta = values.delta;
    if (typeof delta !== "number" || !(delta > 0))
      fail("axes.delta", delta, "delta must be a number > 0");
    const C = c as number;
    let b = scheduleBatch(schedule);
    const lr0 = scheduleLr(schedule);
    if (b === null || lr0 === null)
      fail(
        "base.schedule",
        undefined,
        "sweeping delta needs a schedule with a learning rate and a batch size",
      );
    const split = Object.hasOwn(values, "batchSize") ? 0 : (spec.delta?.split ?? 0);
    if (split > 0) {
      // Relative to the base schedule's delta: the batch takes `split` of the change (in log terms).
      const ratio = (delta as number) / (((lr0 as number) * C) / Math.sqrt(b as number));
      b = Math.max(1, Math.round((b as number) * ratio ** (-2 * split)));
      apply("delta", () => withBatch(schedule, b as number));
    }
    // lr from the rounded batch, so that lr * C / sqrt(b) is exactly the delta asked for.
    const lr = tidy(((delta as number) * Math.sqrt(b as number)) / C);
    apply("delta", () => withLr(schedule, lr));
  }
  run.schedule = schedule;
  for (const [name, value] of Object.entries(values)) {
    if (name === "seed") run.seed = value;
    else if (!(SPECIAL_AXES as readonly string[]).includes(name) && !name.startsWith("schedule."))
      try {
        setPath(run, name.split("."), value);
      } catch (err) {
        fail(`axes.${name}`, value, (err as Error).message);
      }
  }
  // Every member must be a valid run: report the field as the user wrote it (an axis or the base).
  try {
    parseSchedule(schedule);
  } catch (err) {
    if (!(err instanceof ScheduleError)) throw err;
    const issue = err.issues[0];
    const axis = Object.keys(values).find(
      (n) =>
        n === "schedule" || n.startsWith("schedule.") || ["lr", "batchSize", "delta"].includes(n),
    );
    fail(
      axis ? `axes.${axis}` : "base.schedule",
      axis ? values[axis] : undefined,
      `the member's schedule is invalid at ${issue?.path || "(document)"}: ${issue?.message}`,
    );
  }
  const parsed = TrainSpecSchema.safeParse(run);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field =
      issue?.code === "unrecognized_keys"
        ? (issue.keys[0] as string)
        : (issue?.path.map(String).join(".") ?? "");
    const axis = Object.keys(values).find(
      (n) => n === field || field.startsWith(`${n}.`) || n.startsWith(`${field}.`),
    );
    fail(
      axis ? `axes.${axis}` : `base.${field}`,
      axis ? values[axis] : undefined,
      issue?.code === "unrecognized_keys"
        ? `unknown run spec field "${field}"; see docs/sweeps.md for the fields`
        : (issue?.message ?? "invalid"),
    );
  }
  const lr = scheduleLr(schedule);
  const batchSize = scheduleBatch(schedule);
  return {
    spec: run,
    lr,
    batchSize,
    delta:
      c !== undefined && lr !== null && batchSize !== null
        ? tidy((lr * c) / Math.sqrt(batchSize))
        : null,
  };
}
