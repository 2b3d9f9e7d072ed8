/**
 * Sharpness on the torch engine (docs/sharpness.md): the Node side picks the
 * evaluation subset with the TF.js engines' own code (sharpnessSubset: the
 * same Rng fork, the same batches) and sends its indices with the settings;
 * Python (python/sgd_studio_torch/sharpness.py, the same ascent) measures
 * at the model's current weights and answers the values; the events and
 * records are the TF.js trainer's (measureModelSharpness), with backend
 * "torch".
 *
 * Also the on-demand measurement of a torch run's checkpoint
 * (torchCheckpointSharpness, for core/engine/sharpness-checkpoint.ts): a
 * Python worker started from the checkpoint's state file measures it.
 */
import { join } from "node:path";
import type { SharpnessSettings, SharpnessValue, SharpnessVariant } from "../../api/sharpness.js";
import { modelGraph } from "../../models/index.js";
import type { SharpnessEvent, TrainSpec } from "../events.js";
import { failedEvent, sharpnessSubset, sharpnessValue, valuesEvent } from "../sharpness.js";
import { loadSpecDataset } from "../trainer.js";
import {
  asTorchError,
  findTorch,
  initMessage,
  nextMessage,
  readTorchManifest,
  type TorchManifest,
} from "./driver.js";
import { type PyMessage, PythonProcess } from "./python-process.js";

/** What Python answers per variant. */
interface PyValue {
  variant: SharpnessVariant;
  value: number;
  loss: number;
  examples: number;
}

/**
 * One measurement in a running torch engine: progress events while Python
 * works, then one event with the values (or with the error: training goes on).
 * Returns the values, null when stopped (Python saw `stop` between batches) or failed.
 */
export async function torchSharpness(
  py: PythonProcess,
  next: (...types: string[]) => Promise<PyMessage>,
  trainCount: number,
  settings: SharpnessSettings,
  epoch: number,
  when: SharpnessEvent["when"],
  emit: (event: SharpnessEvent) => void,
): Promise<SharpnessValue[] | null> {
  const t0 = performance.now();
  const seconds = () => (performance.now() - t0) / 1000;
  const { indices, batchSize } = sharpnessSubset(trainCount, settings);
  const { rho, rhoL2, iterations, variants } = settings;
  await py.send({ type: "sharpness", batchSize, settings: { rho, rhoL2, iterations, variants } }, [
    indices,
  ]);
  for (;;) {
    const m = await next("sharpness-progress", "sharpness-end");
    if (m.type === "sharpness-progress") {
      emit({ type: "sharpness", epoch, when, done: m.done as number, total: m.total as number });
      continue;
    }
    if (typeof m.error === "string") {
      emit(failedEvent(epoch, when, seconds(), m.error));
      return null;
    }
    if (!Array.isArray(m.values)) return null;
    const values = (m.values as PyValue[]).map((v) =>
      sharpnessValue(v.variant, settings, v.value, v.loss, v.examples),
    );
    const batches = Math.ceil(indices.length / batchSize);
    emit(valuesEvent(epoch, when, settings, batches, values, seconds(), "torch"));
    return values;
  }
}

/**
 * The sharpness of a torch checkpoint (a folder with TORCH_STATE_FILE): the
 * run's spec gives the dataset and model, the state file the weights (batch
 * norm statistics included). Returns the values (null when stopped) and the
 * failure message if the measurement failed.
 */
export async function torchCheckpointSharpness(
  spec: TrainSpec,
  checkpoint: string,
  settings: SharpnessSettings,
  emit: (event: SharpnessEvent) => void,
  shouldStop: () => boolean,
): Promise<{ values: SharpnessValue[] | null; failure?: string; manifest: TorchManifest }> {
  const { path, manifest } = readTorchManifest(checkpoint);
  const at = { step: manifest.step, epoch: manifest.epoch };
  const python = await findTorch();
  const dataset = await loadSpecDataset(spec);
  const graph = modelGraph(spec.model, {
    inputShape: [...dataset.shape],
    numClasses: dataset.classes.length,
  });
  const py = new PythonProcess(python.python);
  // Stop is polled (the worker's flag) and passed on at once: Python checks it between batches.
  const poll = setInterval(() => {
    if (shouldStop()) py.control("stop");
  }, 100);
  let failure: string | undefined;
  let values: SharpnessValue[] | null;
  try {
    await py.send(
      ...initMessage(spec, dataset, graph, python, {
        resume: join(path, manifest.state),
      }),
    );
    await nextMessage(py, at, "ready");
    values = await torchSharpness(
      py,
      (...types) => nextMessage(py, at, ...types),
      dataset.train.count,
      settings,
      manifest.epoch,
      "on-demand",
      (event) => {
        if (event.error) failure = event.error;
        emit(event);
      },
    );
  } catch (err) {
    py.kill();
    throw asTorchError(err, at.step, at.epoch);
  } finally {
    clearInterval(poll);
  }
  await py.close();
  return { values, failure, manifest };
}
