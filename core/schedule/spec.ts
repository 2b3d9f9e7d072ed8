/**
 * The schedule document: a versioned JSON format, validated with zod.
 *
 * Every time parameter is in epochs. `per` says how often the learning rate is
 * re-evaluated: once per epoch (PyTorch: `scheduler.step()` after each epoch),
 * or at every step, on the clock `epoch + i / stepsInEpoch` (PyTorch's
 * documented per-iteration use). Batch sizes always change at epoch boundaries.
 * See docs/schedules.md for the meaning of every field and an example of each.
 */
import { z } from "zod";
import { fmtCount, MAX_EPOCHS } from "./limits.js";

/**
 * The newest format version this build writes. Version 1 documents (every
 * time in epochs) still load; version 2 adds `time: "run"` (every time a
 * fraction of the run, resolved to the run's length when it is compiled).
 */
export const SCHEDULE_VERSION = 2;
/** Every format version this build reads. */
export const SCHEDULE_VERSIONS = [1, 2] as const;

const positive = (what: string) =>
  z.number({ error: `${what} must be a number` }).positive({
    error: (iss) => `${what} must be > 0 (got ${String(iss.input)}); use a positive value`,
  });
const nonNegative = (what: string) =>
  z.number({ error: `${what} must be a number` }).nonnegative({
    error: (iss) => `${what} must be >= 0 (got ${String(iss.input)}); use 0 or a positive value`,
  });
const positiveInt = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .int({ error: (iss) => `${what} must be a whole number (got ${String(iss.input)})` })
    .positive({ error: (iss) => `${what} must be >= 1 (got ${String(iss.input)})` });
const factor = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .positive({ error: (iss) => `${what} must be > 0 (got ${String(iss.input)})` });

/** Strictly increasing list of epoch milestones. */
const milestones = z
  .array(positive("a milestone"), { error: "milestones must be a list of epochs, e.g. [60, 120]" })
  .min(1, { error: "milestones needs at least one epoch, e.g. [60, 120]" })
  .superRefine((list, ctx) => {
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1] as number;
      const cur = list[i] as number;
      if (cur <= prev) {
        ctx.addIssue({
          code: "custom",
          path: [i],
          input: cur,
          message: `milestones must be strictly increasing: ${cur} follows ${prev}; sort them and remove duplicates`,
        });
      }
    }
  });

export const Interpolation = z.enum(["linear", "log", "cosine", "hold"], {
  error: (iss) =>
    `unknown interpolation ${JSON.stringify(iss.input)}; use one of linear, log, cosine, hold`,
});
export type Interpolation = z.infer<typeof Interpolation>;

const keyframePoints = (valueName: string) =>
  z
    .array(
      z.strictObject({
        epoch: nonNegative("keyframe epoch"),
        value: positive(`keyframe ${valueName}`),
        /** Interpolation of the segment that starts at this point (overrides the lane's). */
        interpolation: Interpolation.optional(),
      }),
    )
    .min(1, { error: "keyframes need at least one point, e.g. [{ epoch: 0, value: 0.1 }]" })
    .superRefine((pts, ctx) => {
      if (pts[0] && pts[0].epoch !== 0) {
        ctx.addIssue({
          code: "custom",
          path: [0, "epoch"],
          input: pts[0].epoch,
          message: `the first keyframe must be at epoch 0 (got ${pts[0].epoch}); add a point at epoch 0`,
        });
      }
      for (let i = 1; i < pts.length; i++) {
        const prev = (pts[i - 1] as { epoch: number }).epoch;
        const cur = (pts[i] as { epoch: number }).epoch;
        if (cur <= prev) {
          ctx.addIssue({
            code: "custom",
            path: [i, "epoch"],
            input: cur,
            message: `keyframes out of order: epoch ${cur} comes after epoch ${prev}; sort the points by epoch with no two at the same epoch`,
          });
        }
      }
    });

const lrBase = positive("lr");

// --- learning-rate families (each mirrors a torch.optim.lr_scheduler class) ---

export const ConstantLr = z.strictObject({ kind: z.literal("constant"), lr: lrBase });
/** StepLR(step_size, gamma) */
export const StepLr = z.strictObject({
  kind: z.literal("step"),
  lr: lrBase,
  stepSize: positive("stepSize"),
  gamma: factor("gamma"),
});
/** MultiStepLR(milestones, gamma) */
export const MultiStepLr = z.strictObject({
  kind: z.literal("multistep"),
  lr: lrBase,
  milestones,
  gamma: factor("gamma"),
});
/** ExponentialLR(gamma): gamma per epoch */
export const ExponentialLr = z.strictObject({
  kind: z.literal("exponential"),
  lr: lrBase,
  gamma: factor("gamma"),
});
/** CosineAnnealingLR(T_max, eta_min) */
export const CosineLr = z.strictObject({
  kind: z.literal("cosine"),
  lr: lrBase,
  tMax: positive("tMax"),
  etaMin: nonNegative("etaMin").default(0),
});
/** CosineAnnealingWarmRestarts(T_0, T_mult, eta_min) */
export const CosineRestartsLr = z.strictObject({
  kind: z.literal("cosine-restarts"),
  lr: lrBase,
  t0: positive("t0"),
  tMult: positiveInt("tMult").default(1),
  etaMin: nonNegative("etaMin").default(0),
});
/** PolynomialLR(total_iters, power) */
export const PolynomialLr = z.strictObject({
  kind: z.literal("polynomial"),
  lr: lrBase,
  totalIters: positive("totalIters"),
  power: positive("power").default(1),
});
/** LinearLR(start_factor, end_factor, total_iters); defaults are PyTorch's. */
export const LinearLr = z.strictObject({
  kind: z.literal("linear"),
  lr: lrBase,
  startFactor: factor("startFactor")
    .max(1, { error: "startFactor must be <= 1" })
    .default(1 / 3),
  endFactor: nonNegative("endFactor").max(1, { error: "endFactor must be <= 1" }).default(1),
  totalIters: positive("totalIters").default(5),
});
/** OneCycleLR(max_lr, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase) */
export const OneCycleLr = z.strictObject({
  kind: z.literal("onecycle"),
  maxLr: positive("maxLr"),
  /** Length of the cycle in epochs; defaults to the span the schedule covers. */
  epochs: positive("epochs").optional(),
  pctStart: z
    .number()
    .gt(0, { error: "pctStart must be in (0, 1)" })
    .lt(1, { error: "pctStart must be in (0, 1)" })
    .default(0.3),
  anneal: z.enum(["cos", "linear"], { error: "anneal must be cos or linear" }).default("cos"),
  divFactor: positive("divFactor").default(25),
  finalDivFactor: positive("finalDivFactor").default(1e4),
  threePhase: z.boolean().default(false),
});
/** Points the user drags on the timeline. */
export const KeyframesLr = z.strictObject({
  kind: z.literal("keyframes"),
  points: keyframePoints("lr"),
  interpolation: Interpolation.default("linear"),
});

export type LrSpec =
  | z.output<typeof ConstantLr>
  | z.output<typeof StepLr>
  | z.output<typeof MultiStepLr>
  | z.output<typeof ExponentialLr>
  | z.output<typeof CosineLr>
  | z.output<typeof CosineRestartsLr>
  | z.output<typeof PolynomialLr>
  | z.output<typeof LinearLr>
  | z.output<typeof OneCycleLr>
  | z.output<typeof KeyframesLr>
  | WarmupLr
  | SequenceLr;

/** Linear warmup from startFactor * (the inner schedule's first LR) up to it, then the inner schedule. */
export interface WarmupLr {
  kind: "warmup";
  epochs: number;
  startFactor: number;
  schedule: LrSpec;
}
/** Pieces joined end to end; each piece counts time from its own start (optax join_schedules). */
export interface SequenceLr {
  kind: "sequence";
  pieces: { epochs?: number | undefined; schedule: LrSpec }[];
}

export const LR_KINDS = [
  "constant",
  "step",
  "multistep",
  "exponential",
  "cosine",
  "cosine-restarts",
  "polynomial",
  "linear",
  "onecycle",
  "keyframes",
  "warmup",
  "sequence",
] as const;

export const LrSchema: z.ZodType<LrSpec, unknown> = z.lazy(() =>
  z.discriminatedUnion(
    "kind",
    [
      ConstantLr,
      StepLr,
      MultiStepLr,
      ExponentialLr,
      CosineLr,
      CosineRestartsLr,
      PolynomialLr,
      LinearLr,
      OneCycleLr,
      KeyframesLr,
      z.strictObject({
        kind: z.literal("warmup"),
        epochs: positive("warmup epochs"),
        startFactor: nonNegative("startFactor")
          .max(1, { error: "startFactor must be <= 1" })
          .default(0.01),
        schedule: LrSchema,
      }),
      z.strictObject({
        kind: z.literal("sequence"),
        pieces: z
          .array(
            z.strictObject({
              epochs: positive("piece epochs").optional(),
              schedule: LrSchema,
            }),
          )
          .min(1, { error: "a sequence needs at least one piece" })
          .superRefine((pieces, ctx) => {
            pieces.forEach((p, i) => {
              if (p.epochs === undefined && i < pieces.length - 1) {
                ctx.addIssue({
                  code: "custom",
                  path: [i, "epochs"],
                  input: undefined,
                  message:
                    "every piece but the last needs a length in epochs; give this piece `epochs`",
                });
              }
            });
          }),
      }),
    ],
    {
      error: (iss) =>
        `unknown learning-rate kind ${JSON.stringify((iss.input as { kind?: unknown })?.kind)}; use one of ${LR_KINDS.join(", ")}`,
    },
  ),
) as unknown as z.ZodType<LrSpec, unknown>;

// --- batch-size families ---

const batchCommon = {
  /** Round every batch size to a multiple of this (e.g. 8). */
  roundTo: positiveInt("roundTo").optional(),
  /** Never exceed this batch size (e.g. what fits in memory). */
  max: positiveInt("max").optional(),
};
const batchSize = positiveInt("batch size");

export const BatchSchema = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({ kind: z.literal("constant"), size: batchSize, ...batchCommon }),
    /** multiply by `factor` every `every` epochs */
    z.strictObject({
      kind: z.literal("step"),
      size: batchSize,
      factor: factor("factor"),
      every: positive("every"),
      ...batchCommon,
    }),
    z.strictObject({
      kind: z.literal("multistep"),
      size: batchSize,
      milestones,
      factor: factor("factor"),
      ...batchCommon,
    }),
    /** size * rate^epoch */
    z.strictObject({
      kind: z.literal("exponential"),
      size: batchSize,
      rate: factor("rate"),
      ...batchCommon,
    }),
    /** size + (end - size) * (min(epoch, epochs) / epochs)^power */
    z.strictObject({
      kind: z.literal("polynomial"),
      size: batchSize,
      end: batchSize,
      epochs: positive("epochs").optional(),
      power: positive("power").default(1),
      ...batchCommon,
    }),
    z.strictObject({
      kind: z.literal("keyframes"),
      points: keyframePoints("batch size"),
      interpolation: Interpolation.default("hold"),
      ...batchCommon,
    }),
  ],
  {
    error: (iss) =>
      `unknown batch kind ${JSON.stringify((iss.input as { kind?: unknown })?.kind)}; use one of constant, step, multistep, exponential, polynomial, keyframes`,
  },
);
export type BatchSpec = z.output<typeof BatchSchema>;

// --- smoothing-first design ---

export const DeltaSchema = z.discriminatedUnion(
  "kind",
  [
    /** delta multiplied by gamma every `every` epochs (the paper: gamma = 1/sqrt(2), every 40) */
    z.strictObject({
      kind: z.literal("stagewise"),
      gamma: factor("gamma"),
      every: positive("every"),
    }),
    /**
     * delta / delta_0 = (1 - t / E)^power; with `stages` = M, stagewise as in the paper:
     * stage m (0-based) has (1 - m / M)^power.
     */
    z.strictObject({
      kind: z.literal("polynomial"),
      power: positive("power"),
      stages: positiveInt("stages").optional(),
    }),
    /** delta relative to its value at epoch 0 (the curve is divided by its first value) */
    z.strictObject({
      kind: z.literal("keyframes"),
      points: keyframePoints("delta"),
      interpolation: Interpolation.default("linear"),
    }),
  ],
  {
    error: (iss) =>
      `unknown delta kind ${JSON.stringify((iss.input as { kind?: unknown })?.kind)}; use one of stagewise, polynomial, keyframes`,
  },
);
export type DeltaSpec = z.output<typeof DeltaSchema>;

export const SmoothingSchema = z.strictObject({
  delta: DeltaSchema,
  /** Share of the decay taken by batch growth: 0 = all learning-rate decay, 1 = all batch growth. */
  split: z
    .number({ error: "split must be a number between 0 (all LR) and 1 (all batch)" })
    .min(0, { error: "split must be between 0 (all LR) and 1 (all batch)" })
    .max(1, { error: "split must be between 0 (all LR) and 1 (all batch)" }),
  lr: lrBase,
  batch: batchSize,
  ...batchCommon,
});
export type SmoothingSpec = z.output<typeof SmoothingSchema>;

export const ScheduleSchema = z
  .strictObject({
    version: z.union([z.literal(1), z.literal(2)], {
      error: (iss) =>
        `unsupported schedule version ${JSON.stringify(iss.input)}; this build reads versions ${SCHEDULE_VERSIONS.join(" and ")}`,
    }),
    name: z.string().optional(),
    description: z.string().optional(),
    /**
     * What the times in this document count (version 2): "epochs" (default)
     * or "run": every time is a fraction of the run (0.2 = a fifth of it) and
     * `epochs` is only the length the schedule is shown and exported at when
     * no run length is given. See docs/schedules.md, "Relative to the run".
     */
    time: z.enum(["epochs", "run"], { error: 'time must be "epochs" or "run"' }).optional(),
    epochs: positiveInt("epochs").max(MAX_EPOCHS, {
      error: (iss) =>
        `epochs must be at most ${fmtCount(MAX_EPOCHS)} (got ${String(iss.input)}); the compiler builds every epoch and step, so use at most ${fmtCount(MAX_EPOCHS)} epochs (MAX_EPOCHS)`,
    }),
    per: z.enum(["epoch", "step"], { error: "per must be epoch or step" }).default("epoch"),
    /** Drop the last partial batch of each epoch (PyTorch DataLoader drop_last). */
    dropLast: z.boolean().default(false),
    lr: LrSchema.optional(),
    batch: BatchSchema.optional(),
    smoothing: SmoothingSchema.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.time !== undefined && s.version < 2) {
      ctx.addIssue({
        code: "custom",
        path: ["time"],
        input: s.time,
        message: `"time" needs version 2 of the format; set "version": 2 (older builds then refuse the file instead of misreading it)`,
      });
    }
    if (s.smoothing) {
      for (const key of ["lr", "batch"] as const) {
        if (s[key] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            input: s[key],
            message: `a smoothing-first schedule derives ${key} from delta; remove "${key}" or remove "smoothing"`,
          });
        }
      }
    } else {
      for (const key of ["lr", "batch"] as const) {
        if (s[key] === undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            input: undefined,
            message: `missing "${key}": give both "lr" and "batch", or a "smoothing" section instead`,
          });
        }
      }
    }
  });

export type ScheduleInput = z.input<typeof ScheduleSchema>;
export type Schedule = z.output<typeof ScheduleSchema>;
