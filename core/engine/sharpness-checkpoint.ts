/**
 * Sharpness of a saved model, on demand (the worker's `sharpness` message,
 * core/service/sharpness-job.ts): the run's spec gives the dataset (its
 * training limit included) and the model, the checkpoint its weights (batch
 * norm statistics included; a torch run's checkpoint is measured by the torch
 * engine, core/engine/torch/sharpness.ts); the measurement streams `sharpness` events with
 * when = "on-demand" and resolves with a summary for the worker's verdict.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import {
  type SharpnessSettings,
  type SharpnessSettingsInput,
  SharpnessSettingsSchema,
  type SharpnessValue,
} from "../api/sharpness.js";
import { createModel } from "../models/index.js";
import { selectBackend } from "./backends.js";
import { type CheckpointManifest, checkpointEngine, loadCheckpoint } from "./checkpoint.js";
import {
  type SharpnessEvent,
  type SummaryEvent,
  TrainingError,
  type TrainSpec,
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
  if (checkpointEngine(request.checkpoint) === "torch") {
    return torchCheckpoint(spec, request.checkpoint, settings, emit, shouldStop, t0);
  }
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
  return { values, summary: summaryOf(data.manifest, values, request.checkpoint, t0) };
}

/**
 * A torch run's checkpoint: measured by the torch engine (its weights are in
 * torch's format), unless another backend was asked for, which cannot read them.
 */
async function torchCheckpoint(
  spec: TrainSpec,
  checkpoint: string,
  settings: SharpnessSettings,
  emit: (event: SharpnessEvent) => void,
  shouldStop: () => boolean,
  t0: number,
): Promise<{ summary: SummaryEvent; values: SharpnessValue[] | null }> {
  if (spec.backend !== undefined && spec.backend !== "torch" && spec.backend !== "auto") {
    throw new TrainingError(
      "bad-spec",
      `checkpoint ${checkpoint} was made by the torch engine, which backend ${spec.backend} cannot read; measure it with backend torch (or leave the backend out)`,
    );
  }
  const { torchCheckpointSharpness } = await import("./torch/sharpness.js");
  const r = await torchCheckpointSharpness(spec, checkpoint, settings, emit, shouldStop);
  if (r.failure) throw new TrainingError("internal", r.failure);
  return { values: r.values, summary: summaryOf(r.manifest, r.values, checkpoint, t0) };
}

function summaryOf(
  manifest: Pick<CheckpointManifest, "epoch" | "step" | "best">,
  values: SharpnessValue[] | null,
  checkpoint: string,
  t0: number,
): SummaryEvent {
  return {
    type: "summary",
    status: values ? "completed" : "stopped",
    epochs: manifest.epoch + 1,
    steps: manifest.step,
    testAccuracy: null,
    bestTestAccuracy: manifest.best?.accuracy ?? null,
    bestEpoch: manifest.best?.epoch ?? null,
    wallTime: (performance.now() - t0) / 1000,
    checkpoint,
  };
}
