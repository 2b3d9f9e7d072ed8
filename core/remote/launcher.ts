/**
 * The host side of remote training: a TrainingLauncher that puts the run on
 * the BullMQ queue instead of forking a worker, and a WorkerChannel that
 * relays what the remote worker streams back, so RunManager, the recorder and
 * the library work exactly as for a local run (superviseWorker in
 * core/engine/worker-client.ts supervises it). The host stays the only
 * writer to its library.
 *
 * - One job per library attempt (job id `<run>.<attempt>`); BullMQ may deliver
 *   it several times (a worker died, a transient failure was retried). Each
 *   stream entry carries its delivery: entries of a delivery older than the
 *   newest seen are ignored (a worker that lost its job but still runs).
 *   A new delivery starts with the engine's start event from its resume
 *   point: the recorder drops rows from that epoch on and they are written
 *   again, and metrics are keyed by (run, step), so nothing is doubled.
 * - Checkpoint entries come with an upload (checkpoints.ts): it is written
 *   into the run's checkpoint folder in the library before the recorder sees
 *   the event, so resume points work as for local runs.
 * - pause / resume / stop go to the job's control stream; kill aborts the job
 *   and ends the channel at once (the run becomes interrupted).
 * - The job ends the channel: a done or failed entry; or the job failed with
 *   no verdict (BullMQ gave up: too many stalls or retries): interrupted.
 * - Sharpness measurements (StartOptions.sharpness) stay local.
 */
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { WorkersList } from "../api/workers.js";
import type { SummaryEvent, TrainSpecInput } from "../engine/events.js";
import {
  type StartOptions,
  startTraining,
  superviseWorker,
  type TrainingLauncher,
  type WorkerChannel,
} from "../engine/worker-client.js";
import type { ParentMessage, WorkerMessage } from "../engine/worker-protocol.js";
import { downloadCheckpoint, pruneUploads, uploadCheckpoint } from "./checkpoints.js";
import { connect, redactUrl } from "./connection.js";
import { JOB_VERSION, type RemoteJob } from "./job.js";
import { FINISHED_TTL_S, HOST_TTL_MS, jobIdOf, keys, QUEUE_NAME } from "./keys.js";
import type { StreamMessage } from "./worker.js";
import { listWorkers } from "./workers.js";

export interface RemoteLauncherOptions {
  url: string;
  /** Deliveries of a job for transient failures (BullMQ attempts, default 4). */
  attempts?: number;
  /** First retry delay (ms, doubled each retry; default 2 s). */
  backoffMs?: number;
  /** Launcher for what stays local (sharpness measurements); default a forked worker. */
  local?: TrainingLauncher;
}

export interface RemoteLauncher {
  launch: TrainingLauncher;
  /** The connected workers (the service's workers.list). */
  workers(): Promise<WorkersList>;
  close(): Promise<void>;
}

export function remoteLauncher(options: RemoteLauncherOptions): RemoteLauncher {
  const redis = connect(options.url);
  const queue = new Queue(QUEUE_NAME, { connection: redis });
  queue.on("error", () => {});
  const channels = new Set<RedisChannel>();
  const local = options.local ?? startTraining;
  return {
    launch: (spec, start = {}) => {
      if (start.sharpness || !start.run) return local(spec, start);
      const channel = new RedisChannel(options, redis, queue, start, spec, () =>
        channels.delete(channel),
      );
      channels.add(channel);
      return superviseWorker(channel, spec, start);
    },
    workers: async () => ({ redis: redactUrl(options.url), workers: await listWorkers(redis) }),
    close: async () => {
      for (const c of channels) c.detach();
      await queue.close().catch(() => {});
      redis.disconnect();
    },
  };
}

class RedisChannel implements WorkerChannel {
  readonly pid = undefined;
  private readonly jobId: string;
  private readonly runId: string;
  private listeners: ((m: WorkerMessage) => void)[] = [];
  private endListeners: ((code: number | null, signal: NodeJS.Signals | null) => void)[] = [];
  private ended = false;
  private reader: Redis | null = null;
  private notes: string[] = [];
  private delivery = 0;
  private prunedBefore = 0;
  private hostTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: RemoteLauncherOptions,
    private readonly redis: Redis,
    private readonly queue: Queue,
    private readonly start: StartOptions,
    private readonly spec: TrainSpecInput,
    private readonly forget: () => void,
  ) {
    const run = start.run as { id: string; attempt: number };
    this.runId = run.id;
    this.jobId = jobIdOf(run.id, run.attempt);
  }

  send(message: ParentMessage): void {
    if (this.ended) return;
    if (message.type === "start") {
      this.enqueue(message.resumeFrom).catch((err: Error) =>
        this.fail(`could not queue run ${this.runId} on Redis: ${err.message}`),
      );
      return;
    }
    if (message.type === "stop") this.stopWaiting().catch(() => {});
    this.control(message.type);
  }

  onMessage(listener: (m: WorkerMessage) => void): void {
    this.listeners.push(listener);
  }

  onEnd(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.endListeners.push(listener);
  }

  stderrTail(): string {
    return this.notes.join("\n");
  }

  kill(): void {
    this.control("abort");
    this.end(null, "SIGKILL");
  }

  /** The host closes: stop reading (the worker stops once the host key expires). */
  detach(): void {
    if (!this.ended) this.end(null, "SIGTERM");
  }

  private control(what: string): void {
    this.redis.xadd(keys.control(this.jobId), "*", "c", what).catch(() => {});
  }

  private async enqueue(resumeFrom: string | undefined): Promise<void> {
    await this.renewHostKey();
    this.hostTimer = setInterval(() => this.renewHostKey().catch(() => {}), HOST_TTL_MS / 3);
    this.hostTimer.unref();
    // A library checkpoint this attempt resumes from travels the same way as the workers' own.
    if (resumeFrom) {
      const epoch = await uploadCheckpoint(this.redis, this.jobId, resumeFrom);
      this.prunedBefore = epoch;
    }
    const { checkpointDir: _here, ...spec } = this.spec;
    const data: RemoteJob = {
      v: JOB_VERSION,
      runId: this.runId,
      attempt: (this.start.run as { attempt: number }).attempt,
      spec: spec as Record<string, unknown>,
    };
    await this.queue.add("train", data, {
      jobId: this.jobId,
      attempts: this.options.attempts ?? 4,
      backoff: { type: "exponential", delay: this.options.backoffMs ?? 2_000 },
      removeOnComplete: { age: FINISHED_TTL_S },
      removeOnFail: { age: FINISHED_TTL_S },
    });
    this.read().catch((err: Error) => this.fail(`lost the run's Redis stream: ${err.message}`));
  }

  private renewHostKey(): Promise<unknown> {
    return this.redis.set(keys.host(this.jobId), "1", "PX", HOST_TTL_MS);
  }

  /** A stop while the job still waits for a worker: take it off the queue, the run is stopped. */
  private async stopWaiting(): Promise<void> {
    const state = await this.queue.getJobState(this.jobId);
    if (state !== "waiting" && state !== "delayed" && state !== "prioritized") return;
    const job = await this.queue.getJob(this.jobId);
    if (
      !job ||
      (await job.remove().then(
        () => true,
        () => false,
      )) === false
    )
      return;
    const summary: SummaryEvent = {
      type: "summary",
      status: "stopped",
      epochs: 0,
      steps: 0,
      testAccuracy: null,
      bestTestAccuracy: null,
      bestEpoch: null,
      wallTime: 0,
      checkpoint: null,
    };
    this.deliver({ type: "event", event: summary });
    this.deliver({ type: "done", summary });
    this.end(0, null);
  }

  /** Reads the events stream until a verdict (or the job's failure) ends the run. */
  private async read(): Promise<void> {
    this.reader = this.redis.duplicate();
    this.reader.on("error", () => {});
    let last = "0";
    try {
      while (!this.ended) {
        const got = (await this.reader.xread(
          "COUNT",
          500,
          "BLOCK",
          1000,
          "STREAMS",
          keys.events(this.jobId),
          last,
        )) as [string, [string, string[]][]][] | null;
        const entries = got?.[0]?.[1] ?? [];
        for (const [entryId, fields] of entries) {
          last = entryId;
          await this.entry(fields);
          if (this.ended) return;
        }
        if (entries.length === 0) await this.checkJob();
      }
    } finally {
      this.reader.disconnect();
    }
  }

  private async entry(fields: string[]): Promise<void> {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
    const d = Number(f.d);
    if (!(d >= this.delivery)) return; // a worker that lost the job to a newer delivery
    if (d > this.delivery) {
      if (this.delivery > 0) this.notes.push(`delivery ${d} on worker ${f.w}`);
      this.delivery = d;
      const attempt = (this.start.run as { attempt: number }).attempt;
      this.deliver({
        type: "event",
        event: { type: "remote", attempt, delivery: d, worker: String(f.w ?? "") },
      });
    }
    const m = JSON.parse(f.m ?? "null") as StreamMessage;
    if (!m) return;
    if (m.type === "note") {
      this.notes.push(m.text);
      return;
    }
    if (m.type === "event" && m.event.type === "checkpoint") {
      const dir = this.spec.checkpointDir as string;
      const path = await downloadCheckpoint(this.redis, this.jobId, m.event.epoch, dir);
      if (!path) return; // its upload is gone (pruned by a newer one): a later checkpoint follows
      this.deliver({ type: "event", event: { ...m.event, path } });
      await pruneUploads(this.redis, this.jobId, this.prunedBefore, m.event.epoch);
      this.prunedBefore = m.event.epoch;
      return;
    }
    this.deliver(m);
    if (m.type === "done" || m.type === "failed") this.end(0, null);
  }

  /** No entries for a while: has BullMQ given up on the job without a verdict? */
  private async checkJob(): Promise<void> {
    const state = await this.queue.getJobState(this.jobId);
    if (state !== "failed" && state !== "unknown") return;
    // Read what is left first: a verdict may have arrived just before.
    const job = state === "failed" ? await this.queue.getJob(this.jobId) : null;
    const reason = job?.failedReason ?? "the job is no longer in the queue";
    if (this.ended) return;
    const rest = (await this.redis.xrange(keys.events(this.jobId), "-", "+")) as [
      string,
      string[],
    ][];
    if (rest.some(([, fields]) => /"type":"(done|failed)"/.test(fields.join(" ")))) return;
    this.deliver({
      type: "failed",
      error: {
        code: "worker-exited",
        message: `the remote workers gave up on run ${this.runId}: ${reason}${this.notes.length ? ` (${this.notes.slice(-3).join("; ")})` : ""}; resume it to try again`,
      },
    });
    this.end(0, null);
  }

  private fail(message: string): void {
    if (this.ended) return;
    this.deliver({ type: "failed", error: { code: "worker-exited", message } });
    this.end(0, null);
  }

  private deliver(m: WorkerMessage): void {
    for (const l of this.listeners) l(m);
  }

  private end(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.ended) return;
    this.ended = true;
    if (this.hostTimer) clearInterval(this.hostTimer);
    this.forget();
    const jobId = this.jobId;
    // Keep the streams a while (to debug); drop the uploads: the library holds the checkpoints.
    this.redis
      .multi()
      .del(keys.host(jobId))
      .expire(keys.events(jobId), FINISHED_TTL_S)
      .expire(keys.control(jobId), FINISHED_TTL_S)
      .exec()
      .then(() => this.redis.get(keys.latestCheckpoint(jobId)))
      .then((latest) =>
        latest === null
          ? undefined
          : pruneUploads(this.redis, jobId, this.prunedBefore, Number(latest) + 1).then(() =>
              this.redis.del(keys.latestCheckpoint(jobId)),
            ),
      )
      .catch(() => {});
    for (const l of this.endListeners) l(code, signal);
  }
}
