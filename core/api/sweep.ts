/**
 * The sweep document (docs/sweeps.md): a versioned JSON format, validated
 * with zod like schedules, every problem named by its field with the fix.
 * A sweep is a base run spec plus axes (lists, ranges, random draws), seeds,
 * constraints, a method (grid or random) and, optionally, delta swept
 * directly. Expansion into members is core/sweep/expand.ts; the records the
 * service returns are here too. Plain zod and types: no TensorFlow.js, no SQLite.
 */
import { z } from "zod";
import type { RunStatus } from "./lists.js";

/** The newest sweep format version this build writes and reads. */
export const SWEEP_VERSION = 1;

/** Axes with a meaning of their own (every other axis is a path into the run spec). */
export const SPECIAL_AXES = ["lr", "batchSize", "delta", "schedule"] as const;

/** Fields of the run spec a sweep may not sweep (seeds have `seeds`; checkpoints live in the library). */
export const FORBIDDEN_AXES = ["seed", "checkpointDir"] as const;

const finite = (what: string) =>
  z.number({ error: `${what} must be a number` }).refine(Number.isFinite, {
    error: `${what} must be a finite number`,
  });

/** `{ "range": [lo, hi], "count": n }` or `{ "range": [lo, hi], "step": s }`, linear or log. */
export const RangeAxisSchema = z
  .strictObject({
    range: z.tuple([finite("range[0]"), finite("range[1]")], {
      error: 'range must be [low, high], e.g. "range": [0.01, 1]',
    }),
    count: z
      .number()
      .int({ error: "count must be a whole number" })
      .min(2, { error: "count must be >= 2 (a range of one value is a list: [value])" })
      .max(1000, { error: "count must be at most 1000" })
      .optional(),
    /** Linear: added each time; log: multiplied each time (e.g. 2 for 0.01, 0.02, 0.04, ...). */
    step: z.number().positive({ error: "step must be > 0" }).optional(),
    scale: z
      .enum(["linear", "log"], { error: 'scale must be "linear" or "log"' })
      .default("linear"),
    /** Round every value to a whole number (batch sizes, epochs). */
    integer: z.boolean().default(false),
  })
  .superRefine((r, ctx) => {
    if ((r.count === undefined) === (r.step === undefined))
      ctx.addIssue({
        code: "custom",
        path: [],
        message: 'a range needs exactly one of "count" (how many values) or "step" (the spacing)',
      });
    if (r.range[1] < r.range[0])
      ctx.addIssue({
        code: "custom",
        path: ["range"],
        message: `range must go from low to high (got [${r.range[0]}, ${r.range[1]}]); swap the two`,
      });
    if (r.scale === "log" && r.range[0] <= 0)
      ctx.addIssue({
        code: "custom",
        path: ["range", 0],
        message: "a log range must start above 0; use a positive low end",
      });
    if (r.scale === "log" && r.step !== undefined && r.step <= 1)
      ctx.addIssue({
        code: "custom",
        path: ["step"],
        message: "a log range's step is a factor and must be > 1 (e.g. 2 doubles each time)",
      });
  });

/** A random draw per member (method "random" only). */
export const RandomAxisSchema = z
  .strictObject({
    random: z.enum(["uniform", "log-uniform", "int", "choice"], {
      error: 'random must be one of "uniform", "log-uniform", "int", "choice"',
    }),
    min: finite("min").optional(),
    max: finite("max").optional(),
    values: z.array(z.unknown()).min(1, { error: "values needs at least one value" }).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.random === "choice") {
      if (!r.values)
        ctx.addIssue({
          code: "custom",
          path: ["values"],
          message: 'a "choice" draw needs "values": [...] to choose from',
        });
      return;
    }
    if (r.min === undefined || r.max === undefined || r.max < r.min)
      ctx.addIssue({
        code: "custom",
        path: [r.min === undefined ? "min" : "max"],
        message: `a "${r.random}" draw needs "min" and "max" with min <= max`,
      });
    else if (r.random === "log-uniform" && r.min <= 0)
      ctx.addIssue({
        code: "custom",
        path: ["min"],
        message: 'a "log-uniform" draw needs min > 0',
      });
  });

export const AxisSchema = z.union(
  [
    z
      .array(z.unknown(), { error: "an axis is a list of values, a range or a random draw" })
      .min(1, { error: "an axis list needs at least one value" })
      .max(1000, { error: "an axis list holds at most 1000 values" }),
    RangeAxisSchema,
    RandomAxisSchema,
  ],
  {
    error:
      'an axis is a list ([0.01, 0.1]), a range ({ "range": [0.01, 1], "count": 3, "scale": "log" }) or a random draw ({ "random": "log-uniform", "min": 0.01, "max": 1 })',
  },
);
export type AxisInput = z.input<typeof AxisSchema>;
export type Axis = z.output<typeof AxisSchema>;

/** Sweeping delta = lr * C / sqrt(b) directly: how lr (and the batch) follow from it. */
export const DeltaSweepSchema = z.strictObject({
  /** C, when known; otherwise it is estimated before the members are made (recorded on the sweep). */
  noise: z.number().positive({ error: "delta.noise (C) must be > 0" }).optional(),
  /**
   * Share of the change from the base schedule's delta taken by the batch
   * size: 0 (default without a batchSize axis) = lr alone follows delta;
   * 1 = the batch alone; between = both, as the schedules' smoothing split.
   */
  split: z
    .number()
    .min(0, { error: "delta.split must be between 0 (all LR) and 1 (all batch)" })
    .max(1, { error: "delta.split must be between 0 (all LR) and 1 (all batch)" })
    .optional(),
  /** The short estimate of C: training images it uses (one epoch of the base spec). */
  estimate: z
    .strictObject({
      trainLimit: z.number().int().positive().max(1_000_000).default(2048),
    })
    .optional(),
});

const seedsSchema = z.union(
  [
    z
      .array(z.number().int().nonnegative(), { error: "seeds must be whole numbers >= 0" })
      .min(1, { error: "seeds needs at least one seed" })
      .max(1000),
    z.number().int().positive().max(1000),
  ],
  { error: "seeds is a list of seeds ([0, 1, 2]) or how many (3 means 0, 1, 2)" },
);

export const SweepSpecSchema = z
  .strictObject({
    version: z.literal(1, {
      error: (iss) =>
        `unsupported sweep version ${JSON.stringify(iss.input)}; this build reads version ${SWEEP_VERSION}: set "version": 1`,
    }),
    name: z.string().max(200).optional(),
    description: z.string().max(10_000).optional(),
    method: z
      .enum(["grid", "random"], { error: 'method must be "grid" or "random"' })
      .default("grid"),
    /** Random method: members drawn (before seeds). */
    count: z
      .number()
      .int({ error: "count must be a whole number" })
      .positive({ error: "count must be >= 1" })
      .max(10_000)
      .optional(),
    /** Random method: the seed of the draws (not the runs' seeds). */
    seed: z.number().int().nonnegative().default(0),
    /** The run spec every member starts from (a TrainSpec; its schedule may be a preset name). */
    base: z.record(z.string(), z.unknown(), {
      error:
        'base must be a run spec object, e.g. { "dataset": "default", "model": "mlp", "schedule": "paper-hybrid" }',
    }),
    axes: z.record(z.string(), AxisSchema).default({}),
    seeds: seedsSchema.optional(),
    /** Expressions over axis values; a member is kept when all hold (docs/sweeps.md). */
    constraints: z.array(z.string().min(1).max(500)).max(50).default([]),
    delta: DeltaSweepSchema.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.method === "random" && s.count === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["count"],
        message: 'method "random" needs "count": how many members to draw',
      });
    if (s.method === "grid" && s.count !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["count"],
        message: 'count is for method "random"; a grid has every combination (remove count)',
      });
    for (const [name, axis] of Object.entries(s.axes)) {
      if ((FORBIDDEN_AXES as readonly string[]).includes(name))
        ctx.addIssue({
          code: "custom",
          path: ["axes", name],
          message:
            name === "seed"
              ? 'seeds are not an axis: give "seeds": [0, 1, 2] (each configuration runs once per seed)'
              : "checkpoints always live in the library; remove this axis",
        });
      if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/.test(name))
        ctx.addIssue({
          code: "custom",
          path: ["axes", name],
          message:
            "an axis name is a field path of letters, digits and _ joined by dots (e.g. optimizer.momentum)",
        });
      if (s.method === "grid" && !Array.isArray(axis) && "random" in axis)
        ctx.addIssue({
          code: "custom",
          path: ["axes", name],
          message:
            'random draws need "method": "random"; for a grid give a list or a range of values',
        });
    }
    const has = (a: string) => Object.hasOwn(s.axes, a);
    if (has("delta") && has("lr"))
      ctx.addIssue({
        code: "custom",
        path: ["axes", "lr"],
        message:
          "lr follows from delta (lr = delta * sqrt(b) / C); sweep one of them, not both (remove lr or delta)",
      });
    if (has("delta") && has("batchSize") && s.delta?.split !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["delta", "split"],
        message:
          "with a batchSize axis lr alone follows delta; remove delta.split or the batchSize axis",
      });
    if (s.delta && !has("delta"))
      ctx.addIssue({
        code: "custom",
        path: ["delta"],
        message: 'delta settings need a "delta" axis (e.g. "axes": { "delta": [0.05, 0.1, 0.2] })',
      });
  });

export type SweepSpecInput = z.input<typeof SweepSpecSchema>;
export type SweepSpec = z.output<typeof SweepSpecSchema>;

export interface SweepIssue {
  /** Field path in the document, e.g. `axes.lr.range`. */
  path: string;
  value: unknown;
  /** What is wrong and how to fix it. */
  message: string;
}

/** A sweep document that failed validation: every issue with its field and fix. */
export class SweepSpecError extends Error {
  constructor(readonly issues: SweepIssue[]) {
    super(
      `invalid sweep\n${issues
        .map(
          (i) =>
            `  ${i.path || "(document)"}${i.value === undefined ? "" : ` = ${show(i.value)}`}: ${i.message}`,
        )
        .join("\n")}`,
    );
    this.name = "SweepSpecError";
  }
}

function show(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return "(a value too deeply nested to show)";
  }
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path)
    out += typeof key === "number" ? `[${key}]` : `${out ? "." : ""}${String(key)}`;
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Validates a sweep document; throws SweepSpecError naming each bad field and its fix. */
export function parseSweepSpec(input: unknown): SweepSpec {
  const result = SweepSpecSchema.safeParse(input);
  if (result.success) return result.data;
  const issues: SweepIssue[] = [];
  for (const iss of result.error.issues) {
    if (iss.code === "unrecognized_keys") {
      for (const key of iss.keys)
        issues.push({
          path: pathText([...iss.path, key]),
          value: valueAt(input, [...iss.path, key]),
          message: `unknown field "${key}"; check its spelling against docs/sweeps.md or remove it`,
        });
      continue;
    }
    // A union's own message is the helpful one; zod nests the members' failures under it.
    issues.push({
      path: pathText(iss.path),
      value: valueAt(input, iss.path),
      message: iss.message,
    });
  }
  throw new SweepSpecError(issues);
}

// ---- records the service returns ------------------------------------------

/** What the user asked of a sweep: run it, hold it (no new members start), or cancel it. */
export const SWEEP_STATES = ["active", "paused", "cancelled"] as const;
export type SweepState = (typeof SWEEP_STATES)[number];

/** The noise level C used to turn delta into lr, and how it was obtained. */
export interface SweepNoise {
  c: number;
  method: "given" | "direct-estimate";
  /** For an estimate: mini-batches, their size, and the images of the short run. */
  batches?: number;
  batchSize?: number;
  trainLimit?: number;
  at: string;
}

/** A member of a sweep: one run in the library, its stable key and axis values. */
export interface SweepMember {
  runId: string;
  key: string;
  /** Axis values (and `seed`; with delta swept, the lr and batchSize it gave). */
  values: Record<string, unknown>;
  status: RunStatus;
  attempt: number;
  /** Epochs done of planned. */
  epochsDone: number;
  plannedEpochs: number | null;
  finalTestAccuracy: number | null;
  bestTestAccuracy: number | null;
  /** Training images seen so far, and seconds trained. */
  samples: number | null;
  wallTime: number | null;
  /** The initial delta = lr * C / sqrt(b) when C is known (delta swept), else null. */
  delta: number | null;
  lr: number | null;
  batchSize: number | null;
  error: string | null;
  /** The user cancelled this member (reruns leave it alone; the host training it stops it). */
  cancelled: boolean;
}

export type SweepCounts = Record<RunStatus, number> & { total: number };

export interface SweepSummary {
  id: string;
  name: string | null;
  state: SweepState;
  /** Whether every member has a final status (completed, failed, stopped) and none waits. */
  finished: boolean;
  method: "grid" | "random";
  axes: string[];
  counts: SweepCounts;
  /** Epochs done and planned over all members: the progress bar. */
  epochsDone: number;
  epochsPlanned: number;
  /** Seconds left at the rate epochs were done so far (null until some are). */
  etaSeconds: number | null;
  noise: SweepNoise | null;
  createdAt: string;
  updatedAt: string;
}

export interface SweepDetails extends SweepSummary {
  spec: SweepSpec;
  members: SweepMember[];
}

/** A built-in sweep a user opens, shrinks and runs (`sweep templates`). */
export interface SweepTemplate {
  name: string;
  title: string;
  description: string;
  spec: SweepSpecInput;
}
