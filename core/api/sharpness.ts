/**
 * Sharpness settings and values (docs/sharpness.md): what the measurement in
 * core/engine/sharpness.ts takes and what it records. Plain zod schemas and
 * types, no TensorFlow.js.
 */
import { z } from "zod";

/**
 * What is measured:
 * - "adaptive": adaptive worst-case sharpness, max over ||d / |w| ||_inf <= rho
 *   of L_B(w + d) - L_B(w) (Andriushchenko et al. 2023; the paper's Figure 3), metric `sharpness`;
 * - "l2": the plain (non-adaptive) worst case over ||d||_2 <= rhoL2, metric `sharpnessL2`;
 * - "one-step": the adaptive box's one-step (SAM-style) estimate, L_B(w + rho |w| sign g) - L_B(w),
 *   one forward+backward per batch, metric `sharpnessOneStep`.
 */
export const SHARPNESS_VARIANTS = ["adaptive", "l2", "one-step"] as const;
export type SharpnessVariant = (typeof SHARPNESS_VARIANTS)[number];

/** The metric key each variant is recorded under. */
export const SHARPNESS_KEYS = {
  adaptive: "sharpness",
  l2: "sharpnessL2",
  "one-step": "sharpnessOneStep",
} as const satisfies Record<SharpnessVariant, string>;
export type SharpnessKey = (typeof SHARPNESS_KEYS)[SharpnessVariant];

/** Defaults as the paper's code (rho, iterations, examples, batch); rhoL2 is SAM's usual radius. */
export const SHARPNESS_DEFAULTS = {
  rho: 0.0002,
  rhoL2: 0.05,
  iterations: 20,
  examples: 1024,
  batchSize: 128,
  seed: 0,
} as const;

const variants = z
  .array(
    z.enum(SHARPNESS_VARIANTS, {
      error: `sharpness variants are ${SHARPNESS_VARIANTS.join(", ")}`,
    }),
  )
  .min(1)
  .max(SHARPNESS_VARIANTS.length);

const settingsShape = {
  /** Radius of the adaptive box ||d / |w| ||_inf <= rho (adaptive and one-step). */
  rho: z.number().positive().max(1).default(SHARPNESS_DEFAULTS.rho),
  /** Radius of the plain L2 ball ||d||_2 <= rhoL2. */
  rhoL2: z.number().positive().max(100).default(SHARPNESS_DEFAULTS.rhoL2),
  /** Ascent iterations per batch (adaptive and l2; one-step always takes one). */
  iterations: z.number().int().min(1).max(1000).default(SHARPNESS_DEFAULTS.iterations),
  /** Training examples of the fixed evaluation subset (no augmentation). */
  examples: z.number().int().positive().max(1_000_000).default(SHARPNESS_DEFAULTS.examples),
  /** Examples per batch: the maximum is taken per batch, then averaged. */
  batchSize: z.number().int().positive().max(8192).default(SHARPNESS_DEFAULTS.batchSize),
  /** Chooses the subset (a shuffle of the training split). */
  seed: z.number().int().nonnegative().default(SHARPNESS_DEFAULTS.seed),
};

/** One measurement's settings (the service's `runs.sharpness`, the CLI's `sharpness`). */
export const SharpnessSettingsSchema = z.strictObject({
  ...settingsShape,
  variants: variants.default([...SHARPNESS_VARIANTS]),
});
export type SharpnessSettingsInput = z.input<typeof SharpnessSettingsSchema>;
export type SharpnessSettings = z.output<typeof SharpnessSettingsSchema>;

/** A run spec's `sharpness`: measured by the trainer at the end of the run and/or every K epochs. */
export const SharpnessSpecSchema = z.strictObject({
  ...settingsShape,
  /** Measure after the last epoch (default true). */
  atEnd: z.boolean().default(true),
  /** Variants measured at the end (default all three). */
  variants: variants.default([...SHARPNESS_VARIANTS]),
  /** Also measure after every K-th epoch (0: never). */
  everyEpochs: z.number().int().nonnegative().max(100_000).default(0),
  /** Variants measured every K epochs (default the cheap one-step estimate). */
  trackVariants: variants.default(["one-step"]),
});
export type SharpnessSpecInput = z.input<typeof SharpnessSpecSchema>;
export type SharpnessSpec = z.output<typeof SharpnessSpecSchema>;

/** One measured value with everything it was measured with. */
export interface SharpnessValue {
  variant: SharpnessVariant;
  /** The metric key it is recorded under (SHARPNESS_KEYS). */
  key: SharpnessKey;
  /** Mean over batches of max L_B(w + d) - L_B(w). */
  value: number;
  /** Mean loss at w over the subset (inference mode). */
  loss: number;
  /** The perturbation set: ||d / |w| ||_inf <= rho (adaptive) or ||d||_2 <= rho. */
  norm: "linf" | "l2";
  adaptive: boolean;
  rho: number;
  /** Ascent iterations per batch (1 for one-step). */
  iterations: number;
  /** Examples actually used, in batches of batchSize. */
  examples: number;
  batchSize: number;
  seed: number;
}

/** Where and when a value was measured (run environment's `sharpness` list). */
export interface SharpnessRecord extends SharpnessValue {
  epoch: number;
  /** "end" of training, "every" K epochs, or "on-demand" (runs.sharpness). */
  when: "end" | "every" | "on-demand";
  backend: string | null;
  /** Seconds the measurement took (all its variants). */
  seconds: number | null;
  at: string;
}
