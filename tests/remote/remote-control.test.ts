/**
 * Remote runs controlled from the app, and what a worker refuses, with real
 * parts: redis-server on a random loopback port, a `serve --redis` host driven
 * over its WebSocket like the renderer, one real `sgd-studio worker` process.
 *
 * - pause reaches the worker (the library says paused, steps stop), resume
 *   continues; Redis dropping every client connection mid-run loses nothing.
 * - stop of a run waiting in the queue takes it off the queue (never trained);
 *   stop of a running run stops it on the worker (its engine process ends).
 * - a deterministic failure (NaN loss) fails the run once: no retry.
 * - malicious job payloads put straight on the queue are refused without
 *   retries, each with its reason, and nothing is written outside the
 *   worker's data folder; the worker goes on training valid runs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import type { TrainEvent } from "../../core/engine/events.js";
import { keys, QUEUE_NAME } from "../../core/remote/keys.js";
import {
  childPids,
  cli,
  look,
  type Proc,
  type ServeHost,
  serve,
  stepsPerEpoch,
  tempHome,
  tinySpec,
  until,
} from "../lifecycle/hosts.js";
import { type RedisServer, redisFound, startRedis } from "./redis.js";

const SCHEDULE = (epochs: number, lr = 0.05) => ({
  version: 1,
  epochs,
  lr: { kind: "constant", lr },
  batch: { kind: "constant", size: 16 },
});
const spec = (seed: number, epochs: number, lr?: number) =>
  tinySpec(seed, epochs, { schedule: SCHEDULE(epochs, lr), noiseEvery: 0 });

if (!redisFound && !process.env.CI) console.warn("skipping: /usr/bin/redis-server is missing");
const withRedis = describe.skipIf(!redisFound && !process.env.CI);

let redis: RedisServer;
let host: ServeHost;
let worker: Proc;
let home: string;
let workerHome: string;
const procs: Proc[] = [];

beforeAll(async () => {
  if (!redisFound) return;
  redis = await startRedis();
  home = tempHome("remote-control-");
  host = await serve(home, { SGD_STUDIO_REDIS_URL: redis.url });
  procs.push(host);
  workerHome = tempHome("remote-control-w-");
  worker = cli(["worker", "--redis", redis.url, "--home", workerHome, "--lock-ms", "2000"]);
  procs.push(worker);
  await until(() => /takes runs from/.test(worker.out()), `the worker to start (${worker.err()})`);
  await host.client.call("runs.list", {});
});
afterAll(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await redis?.stop();
});

function trainEvents(id: string): TrainEvent[] {
  return host.events
    .filter(
      (e): e is Extract<ServiceEvent, { type: "run.event" }> =>
        e.type === "run.event" && e.runId === id,
    )
    .map((e) => e.event);
}
const steps = (id: string) => trainEvents(id).filter((e) => e.type === "step").length;
const status = (id: string) => look(home, (s) => s.getRun(id));
const finished = (id: string, ms = 120_000) =>
  until(
    () => {
      const run = status(id);
      return ["running", "queued", "paused"].includes(run.status) ? null : run;
    },
    `run ${id} to finish`,
    ms,
  );
const engines = () =>
  childPids(worker.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("worker.js");
    } catch {
      return false;
    }
  });

withRedis("remote runs controlled from the app", () => {
  it("pause, resume, stop (waiting and running), a dropped Redis connection", async () => {
    const x = (await host.client.call("runs.start", { spec: spec(1, 4) })).id;
    await until(() => steps(x) > 3, "run X to train");
    // The app sees the worker and what it trains (heartbeat every 5 s).
    let seen = await host.client.call("workers.list", {});
    for (let i = 0; i < 200 && !seen.workers[0]?.jobs.includes(`${x}.1`); i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await host.client.call("workers.list", {});
    }
    expect(seen.redis).toBe(redis.url);
    expect(seen.workers).toHaveLength(1);
    expect(seen.workers[0]).toMatchObject({ pid: worker.pid, concurrency: 1, jobs: [`${x}.1`] });
    // The worker trains one run at a time: Y waits in the queue, and stop takes it off.
    const y = (await host.client.call("runs.start", { spec: spec(2, 2) })).id;
    await host.client.call("runs.pause", { id: x });
    await until(() => status(x).status === "paused", "run X paused in the library");
    const pausedAt = steps(x);
    await new Promise((r) => setTimeout(r, 1500));
    expect(steps(x)).toBe(pausedAt); // paused on the worker, not only in the library
    await host.client.call("runs.stop", { id: y });
    expect((await finished(y, 20_000)).status).toBe("stopped");
    expect(trainEvents(y).some((e) => e.type === "remote")).toBe(false); // never delivered
    await host.client.call("runs.resume", { id: x });
    await until(() => steps(x) > pausedAt + 3, "run X to continue");
    // Redis drops every client (host, worker, BullMQ): they reconnect, nothing is lost.
    const admin = new Redis(redis.url);
    expect(await admin.client("KILL", "TYPE", "normal")).toBeGreaterThan(0);
    admin.disconnect();
    const done = await finished(x);
    expect(done.status).toBe("completed");
    const perEpoch = [...stepsPerEpoch(home, x).values()];
    expect(perEpoch).toHaveLength(4);
    expect(new Set(perEpoch).size).toBe(1);

    // Stop a running run: it stops on the worker, whose engine process ends.
    const z = (await host.client.call("runs.start", { spec: spec(3, 20) })).id;
    await until(() => steps(z) > 3, "run Z to train");
    expect(engines()).toHaveLength(1);
    await host.client.call("runs.stop", { id: z });
    expect((await finished(z, 30_000)).status).toBe("stopped");
    await until(() => engines().length === 0, "the worker's engine process to end", 10_000);
  });

  it("a NaN loss fails the run once: deterministic failures are not retried", async () => {
    const n = (await host.client.call("runs.start", { spec: spec(4, 2, 1e9) })).id;
    const run = await finished(n);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("nan-loss");
    expect(run.error?.message).toMatch(/loss became .* with learning rate 1000000000/);
    const remote = (run.environment as { remote?: unknown[] }).remote ?? [];
    expect(remote).toHaveLength(1);
    const queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
    try {
      const job = await queue.getJob(`${n}.1`);
      expect(await job?.getState()).toBe("failed");
      expect(job?.attemptsMade).toBe(1);
    } finally {
      await queue.close();
    }
  });

  it("refuses malicious payloads without retrying, and writes nothing outside its data folder", async () => {
    const queue = new Queue(QUEUE_NAME, { connection: { url: redis.url } });
    const redisClient = new Redis(redis.url);
    const evil = join(home, "evil-checkpoints");
    const good = spec(5, 1);
    const bad: [string, unknown, RegExp][] = [
      ["dataset path", { ...good, dataset: "../../../../etc" }, /spec\.dataset: .* is not one of/],
      ["absolute dataset", { ...good, dataset: "/etc/passwd" }, /no paths/],
      [
        "dataDir traversal",
        { ...good, dataDir: "../../../../etc" },
        /outside this worker's data folder/,
      ],
      ["checkpointDir", { ...good, checkpointDir: evil }, /may not say where checkpoints go/],
      ["oversized epochs", { ...good, epochs: 1e9 }, /epochs must be at most 100,000/],
      ["unknown field", { ...good, command: "touch /tmp/pwned" }, /command/],
    ];
    try {
      for (const [i, [name, s, why]] of bad.entries()) {
        const runId = `20261205-000000-bad00${i}`;
        await queue.add(
          "train",
          { v: 1, runId, attempt: 1, spec: s },
          { jobId: `${runId}.1`, attempts: 3, backoff: { type: "fixed", delay: 100 } },
        );
        const failed = await waitFailed(queue, `${runId}.1`);
        // On a mismatch, say which payload and what the worker logged.
        const context = `${name}: worker log ${worker.err().slice(-3000)}`;
        expect(failed.failedReason, context).toMatch(why);
        expect({ name, attempts: failed.attemptsMade }).toEqual({ name, attempts: 1 });
        // The host would read the refusal as a bad-spec verdict.
        const entries = await redisClient.xrange(keys.events(`${runId}.1`), "-", "+");
        const last = JSON.parse(entries.at(-1)?.[1][5] ?? "null");
        expect(last?.type).toBe("failed");
        expect(last?.error.code).toBe("bad-spec");
      }
      // A job whose id does not match its run and attempt, and one that is not JSON we know.
      await queue.add(
        "train",
        { v: 1, runId: "20261205-000000-bad100", attempt: 1, spec: good },
        { jobId: "other" },
      );
      expect((await waitFailed(queue, "other")).failedReason).toMatch(
        /does not match its run and attempt/,
      );
      await queue.add("train", "rm -rf /", { jobId: "garbage" });
      expect((await waitFailed(queue, "garbage")).failedReason).toMatch(/refused the job: job:/);
      expect(existsSync(evil)).toBe(false);
      expect(existsSync("/tmp/pwned")).toBe(false);
      expect(worker.child.exitCode).toBeNull();
    } finally {
      redisClient.disconnect();
      await queue.close();
    }
    // Still training valid runs.
    const ok = (await host.client.call("runs.start", { spec: spec(6, 1) })).id;
    expect((await finished(ok)).status).toBe("completed");
  });
});

async function waitFailed(queue: Queue, jobId: string) {
  for (let i = 0; i < 400; i++) {
    const job = await queue.getJob(jobId);
    if (job && (await job.getState()) === "failed") return job;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${jobId} did not fail`);
}
