/**
 * Checkpoints: after every epoch, everything needed to continue the same
 * trajectory: model weights (BN statistics included), optimizer state, the
 * noise estimator, the position in the schedule and the metrics so far.
 * Shuffling and augmentation are derived from (seed, epoch), so the position
 * is the RNG state.
 *
 * Layout: <dir>/epoch-NNNN/{manifest.json, tensors.bin} and <dir>/latest.json
 * pointing at the newest. Each checkpoint is written to a temporary folder and
 * renamed into place, and latest.json is replaced atomically, so a crash while
 * saving leaves the previous checkpoint intact; a failed write (a full disk)
 * removes its temporary folder.
 *
 * Older checkpoints are not deleted here: the host deletes them once the
 * library has committed the newer one with its epoch's metrics (a run resumes
 * only from a checkpoint the library acknowledged; core/store/recorder.ts).
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { TrainSpec } from "./events.js";
import { TrainingError } from "./events.js";
import type { OptimizerState } from "./optimizers.js";

export const CHECKPOINT_VERSION = 1;

export interface TensorEntry {
  name: string;
  shape: number[];
  /** Offset in floats into tensors.bin. */
  offset: number;
  length: number;
}

export interface CheckpointManifest {
  version: number;
  spec: TrainSpec;
  /** Last completed epoch; training resumes at epoch + 1. */
  epoch: number;
  /** Optimizer steps taken so far. */
  step: number;
  samples: number;
  weights: TensorEntry[];
  optimizer: { kind: OptimizerState["kind"]; step: number; slots: Record<string, TensorEntry[]> };
  noise: { gradSq: number; trace: number; weight: number; count: number } | null;
  best: { accuracy: number; epoch: number } | null;
  savedAt: string;
}

export interface CheckpointData {
  manifest: CheckpointManifest;
  weights: Float32Array[];
  optimizerSlots: Record<string, Float32Array[]>;
}

interface SaveInput {
  spec: TrainSpec;
  epoch: number;
  step: number;
  samples: number;
  weights: { name: string; shape: number[]; values: Float32Array }[];
  optimizer: OptimizerState;
  noise: CheckpointManifest["noise"];
  best: CheckpointManifest["best"];
}

export function epochDirName(epoch: number): string {
  return `epoch-${String(epoch).padStart(4, "0")}`;
}

/** Writes a checkpoint and points latest.json at it; returns its folder. */
export function saveCheckpoint(dir: string, input: SaveInput): string {
  mkdirSync(dir, { recursive: true });
  const parts: Float32Array[] = [];
  let offset = 0;
  const entry = (name: string, shape: number[], values: Float32Array): TensorEntry => {
    parts.push(values);
    const e = { name, shape, offset, length: values.length };
    offset += values.length;
    return e;
  };
  const weights = input.weights.map((w) => entry(w.name, w.shape, w.values));
  const slots: Record<string, TensorEntry[]> = {};
  for (const [slot, arrays] of Object.entries(input.optimizer.slots)) {
    slots[slot] = arrays.map((a, i) => entry(`${slot}/${i}`, [a.length], a));
  }
  const manifest: CheckpointManifest = {
    version: CHECKPOINT_VERSION,
    spec: input.spec,
    epoch: input.epoch,
    step: input.step,
    samples: input.samples,
    weights,
    optimizer: { kind: input.optimizer.kind, step: input.optimizer.step, slots },
    noise: input.noise,
    best: input.best,
    savedAt: new Date().toISOString(),
  };
  const blob = Buffer.alloc(offset * 4);
  let at = 0;
  for (const p of parts) {
    Buffer.from(p.buffer, p.byteOffset, p.byteLength).copy(blob, at);
    at += p.byteLength;
  }

  const name = epochDirName(input.epoch);
  const tmp = join(dir, `.${name}.tmp-${process.pid}`);
  const pointer = join(dir, `.latest.json.tmp-${process.pid}`);
  const final = join(dir, name);
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    writeFileSync(join(tmp, "tensors.bin"), blob);
    writeFileSync(join(tmp, "manifest.json"), JSON.stringify(manifest));
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    writeFileSync(pointer, JSON.stringify({ checkpoint: name, epoch: input.epoch }));
    renameSync(pointer, join(dir, "latest.json"));
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(pointer, { force: true });
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOSPC" || e.code === "EDQUOT") {
      throw new TrainingError(
        "disk-full",
        `the disk is full: the checkpoint of epoch ${input.epoch + 1} (${Math.round(blob.length / 1e6)} MB) could not be written to ${dir}; free some space and resume the run (it continues from its last checkpoint)`,
        { step: input.step, epoch: input.epoch },
      );
    }
    throw new TrainingError(
      "checkpoint",
      `cannot write the checkpoint of epoch ${input.epoch + 1} to ${dir}: ${e.message}`,
      { step: input.step, epoch: input.epoch },
    );
  }
  return final;
}

/** Removes temporary folders and pointers left in dir by a process killed while saving. */
export function removeStaleTemporaries(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (/^\.(epoch-\d+|latest\.json)\.tmp-\d+$/.test(name)) {
      rmSync(join(dir, name), { recursive: true, force: true });
      removed.push(join(dir, name));
    }
  }
  return removed;
}

/** The newest checkpoint in dir, or null when there is none. */
export function latestCheckpoint(dir: string): string | null {
  const pointer = join(dir, "latest.json");
  if (!existsSync(pointer)) return null;
  try {
    const { checkpoint } = JSON.parse(readFileSync(pointer, "utf8")) as { checkpoint: string };
    const path = join(dir, checkpoint);
    return existsSync(join(path, "manifest.json")) ? path : null;
  } catch {
    return null;
  }
}

/** Which engine wrote a checkpoint ("torch": weights in torch's format), null when unreadable. */
export function checkpointEngine(path: string): "torch" | "tfjs" | null {
  try {
    const manifest = JSON.parse(readFileSync(join(path, "manifest.json"), "utf8"));
    return manifest?.engine === "torch" ? "torch" : "tfjs";
  } catch {
    return null;
  }
}

export function loadCheckpoint(path: string): CheckpointData {
  let manifest: CheckpointManifest;
  let blob: Buffer;
  try {
    manifest = JSON.parse(readFileSync(join(path, "manifest.json"), "utf8"));
    if ((manifest as { engine?: string }).engine === "torch") {
      throw new TrainingError(
        "checkpoint",
        `checkpoint ${path} was made by the torch engine; resume it with backend torch (its weights are in torch's format, which the TensorFlow.js backends cannot read)`,
      );
    }
    blob = readFileSync(join(path, "tensors.bin"));
  } catch (err) {
    if (err instanceof TrainingError) throw err;
    throw new TrainingError(
      "checkpoint",
      `cannot read checkpoint ${path}: ${(err as Error).message}`,
    );
  }
  if (manifest.version !== CHECKPOINT_VERSION) {
    throw new TrainingError(
      "checkpoint",
      `checkpoint ${path} has version ${manifest.version}; this build reads version ${CHECKPOINT_VERSION}`,
    );
  }
  const floats = new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4);
  const read = (e: TensorEntry) => {
    if (e.offset + e.length > floats.length) {
      throw new TrainingError(
        "checkpoint",
        `checkpoint ${path} is truncated: tensor ${e.name} needs floats up to ${e.offset + e.length}, the file has ${floats.length}`,
      );
    }
    return floats.slice(e.offset, e.offset + e.length);
  };
  const optimizerSlots: Record<string, Float32Array[]> = {};
  for (const [slot, entries] of Object.entries(manifest.optimizer.slots)) {
    optimizerSlots[slot] = entries.map(read);
  }
  return { manifest, weights: manifest.weights.map(read), optimizerSlots };
}
