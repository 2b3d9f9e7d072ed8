/**
 * The BullMQ job payload and the worker's check of it. A worker trains only
 * what passes this check, with the same validators the library and the
 * service use (TrainSpecSchema of core/api/spec.ts, the schedule parser of
 * core/schedule/validate.ts, its limits), and stricter path rules than the
 * app's own hosts: a job names a dataset (never a path), dataDir may only be a
 * folder inside the worker's data folder, and checkpoints always go where the
 * worker puts them (the payload may not say). Anything else in the payload
 * refuses the job.
 */
import { resolve } from "node:path";
import { z } from "zod";
import { DATASET_NAMES } from "../api/lists.js";
import { type TrainSpec, TrainSpecSchema } from "../api/spec.js";
import { parseSchedule } from "../schedule/validate.js";
import { isInside, RUN_ID_PATTERN } from "../store/paths.js";

export const JOB_VERSION = 1;
/** Largest payload a worker reads (JSON characters): a spec with its schedule is a few KB. */
export const MAX_PAYLOAD_CHARS = 256 * 1024;

export const RemoteJobSchema = z.strictObject({
  v: z.literal(JOB_VERSION, { error: `v must be ${JOB_VERSION} (this worker's job format)` }),
  runId: z.string().regex(RUN_ID_PATTERN, { error: "runId must be a library run id" }),
  attempt: z.number().int().positive().max(1_000_000),
  spec: z.record(z.string(), z.unknown()),
});
export type RemoteJob = z.output<typeof RemoteJobSchema>;

export class JobRefused extends Error {
  readonly code = "bad-spec" as const;
}

/**
 * The spec for the engine: validated, dataDir resolved inside `dataRoot`
 * (absent: the dataset's usual places, docs/datasets.md), checkpoints in `checkpointDir`.
 */
export function checkJob(
  payload: unknown,
  dataRoot: string,
  checkpointDir: string,
): { job: RemoteJob; spec: TrainSpec } {
  let size: number;
  try {
    size = JSON.stringify(payload ?? null).length;
  } catch {
    throw new JobRefused("the job payload is not plain JSON");
  }
  if (size > MAX_PAYLOAD_CHARS)
    throw new JobRefused(
      `the job payload has ${size} characters; a run spec has at most ${MAX_PAYLOAD_CHARS}`,
    );
  const parsedJob = RemoteJobSchema.safeParse(payload);
  if (!parsedJob.success) throw new JobRefused(`job: ${firstIssue(parsedJob.error)}`);
  const job = parsedJob.data;
  const raw = job.spec;
  if (raw.checkpointDir !== undefined)
    throw new JobRefused(
      "spec.checkpointDir: a job may not say where checkpoints go (the worker keeps them in its data folder and uploads them)",
    );
  const dataset = raw.dataset;
  if (typeof dataset !== "string" || !(DATASET_NAMES as readonly string[]).includes(dataset))
    throw new JobRefused(
      `spec.dataset: ${JSON.stringify(dataset)} is not one of ${DATASET_NAMES.join(", ")}; remote workers train on named datasets only (no paths)`,
    );
  let dataDir: string | undefined;
  if (raw.dataDir !== undefined) {
    const abs = typeof raw.dataDir === "string" ? resolve(dataRoot, raw.dataDir) : null;
    if (abs === null || !isInside(dataRoot, abs))
      throw new JobRefused(
        `spec.dataDir: ${JSON.stringify(raw.dataDir)} is outside this worker's data folder (${dataRoot})`,
      );
    dataDir = abs;
  }
  const parsed = TrainSpecSchema.safeParse({ ...raw, dataDir, checkpointDir });
  if (!parsed.success) throw new JobRefused(`spec.${firstIssue(parsed.error)}`);
  try {
    parsed.data.schedule = parseSchedule(parsed.data.schedule);
  } catch (err) {
    throw new JobRefused(`spec.schedule: ${(err as Error).message}`);
  }
  return { job, spec: parsed.data };
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  const path = issue.path.map(String).join(".");
  return `${path ? `${path}: ` : ""}${issue.message}`;
}
