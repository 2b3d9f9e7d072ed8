/**
 * The Run view's form outside its component: switching to another view and
 * back (the view is created afresh) keeps the user's choices, and changing
 * the schedule changes nothing else.
 */
import type { BackendChoice, OptimizerKind } from "../../../core/api/lists";

export interface RunForm {
  dataset: string;
  model: string;
  /** A preset name, or "designer:" for the schedule the designer handed over. */
  preset: string;
  optimizer: OptimizerKind;
  /** null until the user picks one: then the saved setting applies. */
  backendChoice: BackendChoice | null;
  epochs: number;
  seed: number;
  /** An epoch-time schedule of another length than the run: cut it or stretch it. */
  fit: "truncate" | "fit";
  /** The designer's document last taken over (a new one selects it, with its length). */
  handed: unknown;
  /** Measure the final model's sharpness at the end (spec.sharpness with its defaults). */
  sharpness: boolean;
}

export const runForm: RunForm = {
  dataset: "default",
  model: "mlp",
  preset: "paper-hybrid",
  optimizer: "sgd",
  backendChoice: null,
  // Presets are relative to the run: 5 epochs go through their whole shape.
  epochs: 5,
  seed: 0,
  fit: "truncate",
  handed: null,
  sharpness: false,
};
