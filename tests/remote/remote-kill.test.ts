/**
 * At-least-once remote training with real parts: Debian's redis-server on a
 * random loopback port, a `sgd-studio serve` host dispatching through
 * SGD_STUDIO_REDIS_URL, two (then three) real `sgd-studio worker` processes,
 * and real SIGKILLs at several moments: a worker right after a run's first
 * checkpoint (mid-epoch), a worker as soon as its run started (before any
 * checkpoint), and a worker's engine process (a transient failure, retried by
 * BullMQ with backoff); and a worker stopped with SIGTERM (its run goes back
 * to the queue, never marked stopped). Every run completes in the library with each step
 * once, every epoch whole; a killed run's metrics equal those of an unkilled
 * twin (same spec and seed: the resume continued the same trajectory); the
 * run environment records each delivery and its worker.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import type { TrainEvent } from "../../core/engine/events.js";
import { libraryInternals } from "../../core/store/store.js";
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

const EPOCHS = 4;
/** Batches of 16 over 300 images: ~19 steps an epoch, so a kill lands inside an epoch. */
const SCHEDULE = {
  version: 1,
  epochs: EPOCHS,
  lr: { kind: "constant", lr: 0.05 },
  batch: { kind: "constant", size: 16 },
};
const spec = (seed: number) => tinySpec(seed, EPOCHS, { schedule: SCHEDULE, noiseEvery: 0 });

if (!redisFound && !process.env.CI) console.warn("skipping: /usr/bin/redis-server is missing");
const withRedis = describe.skipIf(!redisFound && !process.env.CI);

let redis: RedisServer;
const procs: Proc[] = [];
beforeAll(async () => {
  if (redisFound) redis = await startRedis();
});
afterAll(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await redis?.stop();
});

function startWorker(home: string): Proc {
  const w = cli(["worker", "--redis", redis.url, "--lock-ms", "1500", "--home", home]);
  procs.push(w);
  return w;
}

function trainEvents(host: ServeHost, id: string): TrainEvent[] {
  return host.events
    .filter(
      (e): e is Extract<ServiceEvent, { type: "run.event" }> =>
        e.type === "run.event" && e.runId === id,
    )
    .map((e) => e.event);
}

/** The pid of the worker process a run is on now (from its latest `remote` event's worker id). */
function workerPidOf(host: ServeHost, id: string): number | null {
  const remote = trainEvents(host, id).filter(
    (e): e is Extract<TrainEvent, { type: "remote" }> => e.type === "remote",
  );
  const last = remote.at(-1);
  if (!last) return null;
  const m = /-(\d+)-[0-9a-f]{6}$/.exec(last.worker);
  return m ? Number(m[1]) : null;
}

function lossRows(home: string, id: string): { step: number; epoch: number; value: number }[] {
  return look(
    home,
    (s) =>
      libraryInternals(s)
        .db.prepare(
          "SELECT step, epoch, value FROM metric_values WHERE run_id = ? AND key = 'loss' ORDER BY step",
        )
        .all(id) as { step: number; epoch: number; value: number }[],
  );
}

/** Every epoch whole, each step once (0..N-1), testAccuracy for every epoch. */
function expectComplete(home: string, id: string): void {
  const perEpoch = stepsPerEpoch(home, id);
  expect([...perEpoch.keys()]).toEqual([...Array(EPOCHS).keys()]);
  const counts = [...perEpoch.values()];
  expect(new Set(counts).size).toBe(1);
  const total = counts.reduce((a, b) => a + b, 0);
  expect(lossRows(home, id).map((r) => r.step)).toEqual([...Array(total).keys()]);
  const acc = look(home, (s) =>
    libraryInternals(s)
      .db.prepare(
        "SELECT count(*) AS n, count(DISTINCT epoch) AS e FROM metric_values WHERE run_id = ? AND key = 'testAccuracy'",
      )
      .get(id),
  ) as { n: number; e: number };
  expect(acc).toEqual({ n: EPOCHS, e: EPOCHS });
}

function deliveries(home: string, id: string): { delivery: number; worker: string }[] {
  const run = look(home, (s) => s.getRun(id));
  return (
    (run.environment as { remote?: { delivery: number; worker: string }[] }).remote ?? []
  ).map((r) => ({ delivery: r.delivery, worker: r.worker }));
}

withRedis("remote workers SIGKILLed mid-run", () => {
  it("every run completes once, each step once, on the same trajectory as an unkilled twin", async () => {
    const home = tempHome("remote-kill-");
    const host = await serve(home, { SGD_STUDIO_REDIS_URL: redis.url });
    procs.push(host);
    expect(host.out()).toContain("runs train on the workers of redis://127.0.0.1:");
    const w1 = startWorker(tempHome("remote-w1-"));
    const w2 = startWorker(tempHome("remote-w2-"));
    await until(
      () => /takes runs from/.test(w1.out()) && /takes runs from/.test(w2.out()),
      "workers up",
    );
    await host.client.call("runs.list", {});
    // A and C are twins (seed 1); A is killed after a checkpoint, C never is.
    const a = (await host.client.call("runs.start", { spec: spec(1) })).id;
    const b = (await host.client.call("runs.start", { spec: spec(2) })).id;
    const c = (await host.client.call("runs.start", { spec: spec(1) })).id;
    const d = (await host.client.call("runs.start", { spec: spec(3) })).id;
    const e = (await host.client.call("runs.start", { spec: spec(4) })).id;

    // Moment 1: A's worker, inside the epoch after A's first checkpoint.
    await until(() => {
      const ev = trainEvents(host, a);
      const cp = ev.findIndex((e) => e.type === "checkpoint");
      return cp >= 0 && ev.slice(cp).some((e) => e.type === "step");
    }, "a step of run A after its first checkpoint");
    const killedA = workerPidOf(host, a) as number;
    process.kill(killedA, "SIGKILL");
    startWorker(tempHome("remote-w3-"));

    // Moment 2: the engine process of B's worker, mid-run: a transient failure, retried.
    await until(
      () => trainEvents(host, b).filter((e) => e.type === "step").length > 25,
      "run B past step 25",
    );
    const bWorker = workerPidOf(host, b) as number;
    const engines = childPids(bWorker).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("worker.js");
      } catch {
        return false;
      }
    });
    expect(engines.length).toBeGreaterThan(0);
    // The worker may train only B (concurrency 1): its one engine is B's.
    process.kill(engines[0] as number, "SIGKILL");

    // Moment 3: D's worker as soon as D started (before any checkpoint).
    await until(
      () => trainEvents(host, d).some((e) => e.type === "start"),
      "run D to start",
      120_000,
    );
    const killedD = workerPidOf(host, d) as number;
    process.kill(killedD, "SIGKILL");
    startWorker(tempHome("remote-w4-"));

    // Moment 4, not a kill: E's worker is stopped (SIGTERM) after E's first checkpoint; E goes
    // back to the queue and another worker continues it, never marked stopped.
    await until(
      () => trainEvents(host, e).some((ev) => ev.type === "checkpoint"),
      "run E's first checkpoint",
      180_000,
    );
    const leaving = workerPidOf(host, e) as number;
    process.kill(leaving, "SIGTERM");
    startWorker(tempHome("remote-w5-"));

    for (const id of [a, b, c, d, e])
      await until(
        () =>
          look(home, (s) => {
            const st = s.getRun(id).status;
            return st !== "running" && st !== "queued" ? st : null;
          }),
        `run ${id} to finish`,
        180_000,
      );
    for (const id of [a, b, c, d, e]) {
      const run = look(home, (s) => s.getRun(id));
      expect({ id, status: run.status, error: run.error }).toEqual({
        id,
        status: "completed",
        error: null,
      });
      expect(run.attempt).toBe(1); // one claim by the host; BullMQ redelivered within it
      expect(run.lastEpoch).toBe(EPOCHS - 1);
      expectComplete(home, id);
      // The final checkpoint is in the library, where local runs keep theirs.
      expect(run.resumeEpoch).toBe(EPOCHS - 1);
    }
    // A was resumed by another worker from its shared checkpoint: two deliveries, two workers.
    const da = deliveries(home, a);
    expect(da.map((x) => x.delivery)).toEqual([1, 2]);
    expect(new Set(da.map((x) => x.worker)).size).toBe(2);
    const startsA = trainEvents(host, a).filter(
      (e): e is Extract<TrainEvent, { type: "start" }> => e.type === "start",
    );
    expect(startsA[0]?.startEpoch).toBe(0);
    expect(startsA[1]?.startEpoch).toBeGreaterThan(0); // resumed, not restarted
    // B's engine died: the same job was retried (a second delivery).
    expect(deliveries(home, b).map((x) => x.delivery)).toEqual([1, 2]);
    expect(deliveries(home, d).map((x) => x.delivery)).toEqual([1, 2]);
    expect(deliveries(home, c).map((x) => x.delivery)).toEqual([1]);
    expect(deliveries(home, e).map((x) => x.delivery)).toEqual([1, 2]);
    const statusesE = host.events.filter((ev) => ev.type === "run.status" && ev.runId === e);
    expect(statusesE.map((ev) => (ev as { status: string }).status)).not.toContain("stopped");
    // Same trajectory: the killed run's losses are its unkilled twin's.
    const la = lossRows(home, a).map((r) => r.value);
    const lc = lossRows(home, c).map((r) => r.value);
    expect(la).toEqual(lc);
  });
});
