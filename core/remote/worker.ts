/**
 * `sgd-studio worker`: pulls runs from the BullMQ queue and trains each with
 * the same engine worker process as a local run (core/engine/worker.ts through
 * superviseWorker), relaying its messages to the host through a Redis stream.
 *
 * - A job is trained only after checkJob (job.ts) accepted its payload.
 * - Every stream entry carries the delivery (BullMQ's attemptsStarted), so the
 *   host ignores a worker whose job was already handed to another one.
 * - Checkpoints are uploaded with the entry that announces them
 *   (checkpoints.ts); a redelivered job resumes from the newest upload.
 * - Verdicts: a summary completes the job; a deterministic failure (NaN loss,
 *   a bad spec, ...) fails it for good (UnrecoverableError: no retry); a
 *   transient one (the engine process died, a full disk) throws, and BullMQ
 *   retries it with backoff until the job's attempts are used up.
 * - A worker SIGKILLed mid-run leaves its job locked until the lock expires;
 *   BullMQ's stalled-job check (run by every worker) then hands it to another.
 * - The host renews a key while it records the run; when that key is gone
 *   (the host died or gave up), training stops: nobody would record it.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { INTERRUPTING_ERRORS, type TrainingErrorCode } from "../api/events.js";
import type { SummaryEvent, TrainEvent, TrainSpecInput } from "../engine/events.js";
import {
  startTraining,
  type TrainingHandle,
  type TrainingLauncher,
} from "../engine/worker-client.js";
import type { WorkerMessage } from "../engine/worker-protocol.js";
import {
  downloadCheckpoint,
  latestUploadedEpoch,
  queueUpload,
  readCheckpointFiles,
} from "./checkpoints.js";
import { connect } from "./connection.js";
import { checkJob, JobRefused } from "./job.js";
import { jobIdOf, keys, QUEUE_NAME } from "./keys.js";

export interface RemoteWorkerOptions {
  url: string;
  /** Runs trained at once (one engine process each). */
  concurrency?: number;
  /** Train on this backend whatever the job asks (e.g. the host's GPU backend). */
  backend?: string;
  /** The worker's own folder: named datasets' dataDir must be inside it; checkpoints live under it. */
  dataDir: string;
  /** BullMQ lock: a job whose worker stopped renewing it for this long is handed to another (ms, default 30 s). */
  lockMs?: number;
  /** How often the host key and the control stream are checked (ms). */
  pollMs?: number;
  log?: (line: string) => void;
  /** The engine launcher (default: a forked core/engine/worker.ts). */
  launch?: TrainingLauncher;
}

export interface RemoteWorker {
  readonly id: string;
  /** Stops taking jobs; runs in progress stop at their next step and go back to the queue. */
  close(): Promise<void>;
}

/** Entries a host reads from the events stream (beyond the engine's own messages). */
export type StreamMessage = WorkerMessage | { type: "note"; text: string };

export async function startRemoteWorker(options: RemoteWorkerOptions): Promise<RemoteWorker> {
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const log = options.log ?? (() => {});
  const redis = connect(options.url);
  const launch = options.launch ?? startTraining;
  const pollMs = options.pollMs ?? 250;
  const active = new Map<string, Slot>();
  let leaving = false;

  /** Publishes this worker's jobs at once (set to the heartbeat below), not at the next beat. */
  let announce: () => Promise<void> = async () => {};
  const processor = async (job: Job): Promise<unknown> => {
    const jobId = String(job.id);
    const delivery = job.attemptsStarted;
    const post = (m: StreamMessage) =>
      redis.xadd(keys.events(jobId), "*", "d", String(delivery), "w", id, "m", JSON.stringify(m));
    const dir = join(options.dataDir, "remote-jobs", `${safeName(jobId)}.d${delivery}`);
    let checked: ReturnType<typeof checkJob>;
    try {
      checked = checkJob(job.data, options.dataDir, join(dir, "checkpoints"));
      if (jobId !== jobIdOf(checked.job.runId, checked.job.attempt))
        throw new JobRefused(`job id ${jobId} does not match its run and attempt`);
    } catch (err) {
      const message = `this worker refused the job: ${(err as Error).message}`;
      log(`job ${jobId}: ${message}`);
      await post({ type: "failed", error: { code: "bad-spec", message } });
      throw new UnrecoverableError(message);
    }
    if ((await redis.exists(keys.host(jobId))) === 0)
      throw new UnrecoverableError(`no host is recording run ${checked.job.runId} any more`);
    const spec: TrainSpecInput = { ...checked.spec };
    if (options.backend) spec.backend = options.backend;

    const slot: Slot = { handle: null, leaving: false, lost: false };
    /** Checks in a row that found the host's key gone. */
    let hostGone = 0;
    active.set(jobId, slot);
    void announce();
    // Stream entries in the order the engine sent them, uploads included.
    let chain: Promise<unknown> = Promise.resolve();
    /** Why relaying failed (e.g. a checkpoint too big for Redis): the run stops and fails with it. */
    let relayError: Error | null = null;
    const relay = (event: TrainEvent) => {
      if (event.type === "error" || relayError || slot.lost) return; // the verdict is posted below
      // A stop this worker made (it leaves, or nobody records) is not the run's end: no summary.
      if (event.type === "summary" && (slot.leaving || hostGone >= 2)) return;
      chain = chain
        .then(async () => {
          if (event.type === "checkpoint") {
            const files = readCheckpointFiles(event.path);
            const m: StreamMessage = { type: "event", event };
            await queueUpload(redis.multi(), jobId, event.epoch, files)
              .xadd(keys.events(jobId), "*", "d", String(delivery), "w", id, "m", JSON.stringify(m))
              .exec();
          } else await post({ type: "event", event });
        })
        .catch((err: Error) => {
          if (relayError) return;
          relayError = err;
          log(`job ${jobId}: ${err.message}; stopping the run`);
          slot.handle?.stop();
        });
    };
    let aborted = false;
    const timers: NodeJS.Timeout[] = [];
    try {
      const latest = await latestUploadedEpoch(redis, jobId);
      const resumeFrom =
        latest === null
          ? undefined
          : ((await downloadCheckpoint(redis, jobId, latest, join(dir, "checkpoints"))) ??
            undefined);
      log(
        `job ${jobId}: run ${checked.job.runId} attempt ${checked.job.attempt}, delivery ${delivery}${resumeFrom ? `, resuming after epoch ${(latest as number) + 1}` : ""}`,
      );
      const handle = launch(spec, { resumeFrom, onEvent: relay });
      slot.handle = handle;
      if (leaving) handle.stop();
      // Control from the host, replayed from the start on every delivery (a stop sent earlier still counts).
      let lastControl = "-";
      let polling = false;
      timers.push(
        setInterval(async () => {
          if (polling) return;
          polling = true;
          try {
            const start = lastControl === "-" ? "-" : `(${lastControl}`;
            for (const [entryId, fields] of await redis.xrange(keys.control(jobId), start, "+")) {
              lastControl = entryId;
              const what = fields[1];
              if (what === "pause") handle.pause();
              else if (what === "resume") handle.resume();
              else if (what === "stop") handle.stop();
              else if (what === "abort") {
                aborted = true;
                handle.kill("SIGKILL");
              }
            }
          } catch {
            // Redis away for a moment: the next poll catches up.
          } finally {
            polling = false;
          }
        }, pollMs),
        setInterval(
          async () => {
            try {
              hostGone = (await redis.exists(keys.host(jobId))) === 0 ? hostGone + 1 : 0;
              if (hostGone === 2) {
                log(`job ${jobId}: its host stopped recording; stopping`);
                handle.stop();
              }
            } catch {}
          },
          Math.max(pollMs * 4, 1000),
        ),
      );
      let summary: SummaryEvent;
      try {
        summary = await handle.done;
      } catch (err) {
        await chain;
        const e = err as Error & {
          code?: TrainingErrorCode;
          at?: { step?: number; epoch?: number };
        };
        const code = e.code ?? "internal";
        if (slot.lost) throw new Error("this worker lost the job's lock (another worker has it)");
        if (aborted) throw new UnrecoverableError("the host aborted the run");
        if (hostGone >= 2) throw new UnrecoverableError("the host stopped recording the run");
        const attempts = job.opts.attempts ?? 1;
        if (INTERRUPTING_ERRORS.includes(code) && job.attemptsMade + 1 < attempts) {
          await post({ type: "note", text: `retrying after: ${e.message}` });
          throw new Error(e.message);
        }
        await post({ type: "failed", error: { code, message: e.message, ...e.at } });
        throw new UnrecoverableError(e.message);
      }
      await chain;
      if (relayError) {
        const message = (relayError as Error).message;
        await post({ type: "failed", error: { code: "checkpoint", message } });
        throw new UnrecoverableError(message);
      }
      if (summary.status === "stopped" && (slot.leaving || hostGone >= 2)) {
        // Stopped because this worker leaves (or nobody records): not the user's stop.
        if (hostGone >= 2) throw new UnrecoverableError("the host stopped recording the run");
        await post({
          type: "note",
          text: `worker ${id} is shutting down; the run goes back to the queue`,
        });
        throw new Error(`worker ${id} shut down`);
      }
      await post({ type: "done", summary: { ...summary, checkpoint: null } });
      return { status: summary.status, epochs: summary.epochs, steps: summary.steps };
    } finally {
      for (const t of timers) clearInterval(t);
      active.delete(jobId);
      void announce();
      // Checkpoints live in Redis and the host's library: nothing here is needed any more.
      rmSync(dir, { recursive: true, force: true });
    }
  };

  const worker = new Worker(QUEUE_NAME, processor, {
    connection: redis,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockMs ?? 30_000,
    stalledInterval: Math.max(500, Math.floor((options.lockMs ?? 30_000) / 2)),
    // A run may outlive a few killed workers; beyond that it fails (the host marks it interrupted).
    maxStalledCount: 5,
    name: id,
  });
  worker.on("error", (err) => log(`worker: ${err.message}`));
  // The lock of a job could not be renewed (this worker was cut off long enough for BullMQ to
  // hand the job to another): stop training it here at once; the host ignores this delivery.
  worker.on("lockRenewalFailed", (jobIds) => {
    for (const jobId of jobIds) {
      const slot = active.get(jobId);
      if (!slot || slot.lost) continue;
      slot.lost = true;
      log(`job ${jobId}: lost its lock to another worker; stopping here`);
      slot.handle?.kill("SIGKILL");
    }
  });
  worker.on("failed", (job, err) => log(`job ${job?.id}: ${err.message}`));
  await worker.waitUntilReady();

  // Presence for workers.list: refreshed while the worker lives, gone 3 beats after it dies.
  const beat = async () => {
    try {
      await redis
        .multi()
        .hset(keys.worker(id), {
          id,
          host: hostname(),
          pid: String(process.pid),
          concurrency: String(options.concurrency ?? 1),
          backend: options.backend ?? "",
          startedAt: startedAt,
          seenAt: new Date().toISOString(),
          jobs: JSON.stringify([...active.keys()]),
        })
        .pexpire(keys.worker(id), 15_000)
        .exec();
    } catch {}
  };
  const startedAt = new Date().toISOString();
  announce = beat;
  await beat();
  const beater = setInterval(beat, 5_000);

  return {
    id,
    close: async () => {
      leaving = true;
      clearInterval(beater);
      for (const slot of active.values()) {
        slot.leaving = true;
        slot.handle?.stop();
      }
      await worker.close();
      await redis.del(keys.worker(id)).catch(() => {});
      redis.disconnect();
    },
  };
}

interface Slot {
  handle: TrainingHandle | null;
  /** This worker is shutting down: the run goes back to the queue. */
  leaving: boolean;
  /** BullMQ gave the job to another worker (the lock could not be renewed). */
  lost: boolean;
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100);
}

/** For tests and `workers`: the Redis connection type. */
export type { Redis };
