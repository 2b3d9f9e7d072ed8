/**
 * Sharpness of a saved model, on demand (the worker's `sharpness` message,
 * core/service/sharpness-job.ts): the run's spec gives the dataset (its
 * training limit included) and the model, the checkpoint its weights (batch
 * norm statistics included); the measurement streams `sharpness` events with
 * when = "on-demand" and resolves with a summary for the worker's verdict.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import {
  type SharpnessSettingsInput,
  SharpnessSettingsSchema,
  type SharpnessValue,
} from "../api/sharpness.js";
import { createModel } from "../models/index.js";
import { selectBackend } from "./backends.js";
import { loadCheckpoint } from "./checkpoint.js";
import {
  type SharpnessEvent,
  type SummaryEvent,
  TrainingError,
  type TrainSpecInput,
  TrainSpecSchema,
} from "./events.js";
import { measureModelSharpness } from "./sharpness.js";
import { loadSpecDataset } from "./trainer.js";

export interface CheckpointSharpnessRequest {
  spec: TrainSpecInput;
  /** A checkpoint folder (epoch-NNNN with manifest.json). */
  checkpoint: string;
  settings: SharpnessSettingsInput;
}

export async function checkpointSharpness(
  request: CheckpointSharpnessRequest,
  emit: (event: SharpnessEvent) => void,
  shouldStop: () => boolean = () => false,
): Promise<{ summary: SummaryEvent; values: SharpnessValue[] | null }> {
  const t0 = performance.now();
  const parsedSpec = TrainSpecSchema.safeParse(request.spec);
  if (!parsedSpec.success) {
    const issue = parsedSpec.error.issues[0];
    throw new TrainingError(
      "bad-spec",
      `invalid training spec: ${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  const parsedSettings = SharpnessSettingsSchema.safeParse(request.settings);
  if (!parsedSettings.success) {
    const issue = parsedSettings.error.issues[0];
    throw new TrainingError(
      "bad-spec",
      `invalid sharpness settings: ${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  const spec = parsedSpec.data;
  const settings = parsedSettings.data;
  const data = loadCheckpoint(request.checkpoint);
  let backend: Awaited<ReturnType<typeof selectBackend>>;
  try {
    backend = await selectBackend(spec.backend);
  } catch (err) {
    throw new TrainingError("backend", (err as Error).message);
  }
  const dataset = await loadSpecDataset(spec);
  const model = createModel(spec.model, {
    inputShape: [...dataset.shape],
    numClasses: dataset.classes.length,
    seed: spec.seed,
  });
  let values: SharpnessValue[] | null = null;
  let failure: string | undefined;
  try {
    const weights = model.weights;
    if (weights.length !== data.weights.length) {
      throw new TrainingError(
        "checkpoint",
        `checkpoint ${request.checkpoint} holds ${data.weights.length} weight tensors but model ${spec.model} has ${weights.length}`,
      );
    }
    const tensors = data.weights.map((v, i) =>
      tf.tensor(v, (weights[i] as tfl.LayerVariable).read().shape),
    );
    model.setWeights(tensors);
    tf.dispose(tensors);
    values = await measureModelSharpness(
      model,
      dataset,
      settings,
      settings.variants,
      data.manifest.epoch,
      "on-demand",
      (event) => {
        if (event.error) failure = event.error;
        emit(event);
      },
      { shouldStop, backend: backend.name },
    );
  } finally {
    model.dispose();
  }
  if (failure) throw new TrainingError("internal", failure);
  return {
    values,
    summary: {
      type: "summary",
      status: values ? "completed" : "stopped",
      epochs: data.manifest.epoch + 1,
      steps: data.manifest.step,
      testAccuracy: null,
      bestTestAccuracy: data.manifest.best?.accuracy ?? null,
      bestEpoch: data.manifest.best?.epoch ?? null,
      wallTime: (performance.now() - t0) / 1000,
      checkpoint: request.checkpoint,
    },
  };
}
