/**
 * Names in Redis for remote training. The BullMQ queue carries one job per
 * library attempt of a run (job id `<run id>.<attempt>`); beside it, per job:
 *
 *   sgd-studio:events:<job>      stream, worker -> host: the engine's messages,
 *                                each tagged with the delivery (BullMQ's
 *                                attemptsStarted) and the worker's id
 *   sgd-studio:control:<job>     stream, host -> worker: pause, resume, stop, abort
 *   sgd-studio:host:<job>        key with a TTL, renewed by the host while it records
 *   sgd-studio:ckpt:<job>:<ep>   hash: the checkpoint of epoch ep (its files)
 *   sgd-studio:ckpt:<job>        string: the newest epoch uploaded (what a redelivery resumes from)
 *   sgd-studio:worker:<id>       hash with a TTL: a connected worker (workers.list)
 */
export const QUEUE_NAME = "sgd-studio-runs";
const P = "sgd-studio";

/** BullMQ job ids may not contain ':'; run ids cannot (core/store/paths.ts RUN_ID_PATTERN). */
export const jobIdOf = (runId: string, attempt: number): string => `${runId}.${attempt}`;

export const keys = {
  events: (job: string) => `${P}:events:${job}`,
  control: (job: string) => `${P}:control:${job}`,
  host: (job: string) => `${P}:host:${job}`,
  checkpoint: (job: string, epoch: number) => `${P}:ckpt:${job}:${epoch}`,
  latestCheckpoint: (job: string) => `${P}:ckpt:${job}`,
  worker: (id: string) => `${P}:worker:${id}`,
  workerPattern: `${P}:worker:*`,
};

/** How long streams and checkpoints of a finished job stay in Redis (seconds): enough to debug. */
export const FINISHED_TTL_S = 3600;
/** The host key's lifetime (ms); the host renews it every third of that. */
export const HOST_TTL_MS = 30_000;
