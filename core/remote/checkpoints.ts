/**
 * Checkpoints travel through Redis (docs/remote.md says why): a worker
 * uploads each epoch's checkpoint folder as one hash (file name -> bytes) in
 * the same MULTI as the stream entry that announces it, so a host or a
 * redelivered job never sees one without the other. The host writes it into
 * the library's own checkpoint folder (where local runs keep theirs) and
 * deletes older uploads once the library has recorded a newer one; a
 * redelivered job downloads the newest into its worker's data folder and
 * resumes from it.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChainableCommander, Redis } from "ioredis";
import { epochDirName } from "../engine/checkpoint.js";
import { keys } from "./keys.js";

/** Largest checkpoint sent through Redis (bytes; a Redis string holds at most 512 MB). */
export const MAX_CHECKPOINT_BYTES = 400 * 1024 * 1024;

/** The files of one checkpoint folder (manifest.json, tensors.bin). */
export function readCheckpointFiles(path: string): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  let total = 0;
  for (const name of readdirSync(path)) {
    const data = readFileSync(join(path, name));
    total += data.length;
    files[name] = data;
  }
  if (total > MAX_CHECKPOINT_BYTES)
    throw new Error(
      `the checkpoint ${path} has ${Math.round(total / 1e6)} MB; remote runs send checkpoints through Redis, at most ${MAX_CHECKPOINT_BYTES / 1e6} MB (docs/remote.md)`,
    );
  if (!files["manifest.json"]) throw new Error(`${path} holds no manifest.json: not a checkpoint`);
  return files;
}

/** Adds the upload of a checkpoint (and the newest-epoch pointer) to a MULTI. */
export function queueUpload(
  multi: ChainableCommander,
  job: string,
  epoch: number,
  files: Record<string, Buffer>,
): ChainableCommander {
  const key = keys.checkpoint(job, epoch);
  return multi.del(key).hset(key, files).set(keys.latestCheckpoint(job), String(epoch));
}

/** Uploads a checkpoint folder (the host does this before a job resumes a library checkpoint). */
export async function uploadCheckpoint(redis: Redis, job: string, path: string): Promise<number> {
  const files = readCheckpointFiles(path);
  const manifest = JSON.parse((files["manifest.json"] as Buffer).toString("utf8")) as {
    epoch: number;
  };
  await queueUpload(redis.multi(), job, manifest.epoch, files).exec();
  return manifest.epoch;
}

/**
 * Writes the uploaded checkpoint of `epoch` into `dir/epoch-NNNN` (a temporary
 * folder renamed into place, then latest.json, as the engine does); returns its
 * path, or null when Redis holds no such checkpoint.
 */
export async function downloadCheckpoint(
  redis: Redis,
  job: string,
  epoch: number,
  dir: string,
): Promise<string | null> {
  // The epoch names a folder: only a plain whole number (whatever the stream entry claims).
  if (!Number.isSafeInteger(epoch) || epoch < 0) return null;
  const files = await redis.hgetallBuffer(keys.checkpoint(job, epoch));
  if (!files["manifest.json"]) return null;
  const name = epochDirName(epoch);
  const tmp = join(dir, `.${name}.tmp-${process.pid}`);
  const final = join(dir, name);
  mkdirSync(dir, { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  for (const [file, data] of Object.entries(files)) {
    // Only plain names: a hash field cannot place a file outside the folder.
    if (!/^[A-Za-z0-9._-]+$/.test(file) || file.startsWith(".")) continue;
    writeFileSync(join(tmp, file), data);
  }
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  const pointer = join(dir, `.latest.json.tmp-${process.pid}`);
  writeFileSync(pointer, JSON.stringify({ checkpoint: name, epoch }));
  renameSync(pointer, join(dir, "latest.json"));
  return final;
}

/** The newest uploaded epoch of a job, or null. */
export async function latestUploadedEpoch(redis: Redis, job: string): Promise<number | null> {
  const v = await redis.get(keys.latestCheckpoint(job));
  return v === null ? null : Number(v);
}

/** Deletes uploads of epochs from `from` up to before `to` (the library holds a newer one). */
export async function pruneUploads(
  redis: Redis,
  job: string,
  from: number,
  to: number,
): Promise<void> {
  const names: string[] = [];
  for (let e = Math.max(0, from); e < to; e++) names.push(keys.checkpoint(job, e));
  for (let i = 0; i < names.length; i += 500) await redis.del(...names.slice(i, i + 500));
}
