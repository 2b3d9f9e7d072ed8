/**
 * The sweeps issue's distributed "done": the same 12-member grid (3 lr x 2
 * batch x 2 seeds, mlp on the embedded data, 2 epochs) through BullMQ, with a
 * real redis-server on a random loopback port, a `serve` host dispatching with
 * SGD_STUDIO_REDIS_URL and two real `sgd-studio worker` processes, one of them
 * SIGKILLed mid-run: all 12 members complete, no (run, key, step) twice and
 * no step missing, and the killed member shows two deliveries on two workers.
 * Sweep members are ordinary queued runs, so nothing here is sweep-specific
 * in the remote code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import { libraryInternals } from "../../core/store/store.js";
import { cli, look, type Proc, serve, stepsPerEpoch, tempHome, until } from "../lifecycle/hosts.js";
import { type RedisServer, redisFound, startRedis } from "./redis.js";

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

withRedis("a sweep through BullMQ", () => {
  it("12 members on two workers, one SIGKILLed mid-run: all complete, every step once", async () => {
    const home = tempHome("remote-sweep-");
    const host = await serve(home, { SGD_STUDIO_REDIS_URL: redis.url });
    procs.push(host);
    const worker = () => {
      const w = cli([
        "worker",
        "--redis",
        redis.url,
        "--lock-ms",
        "1500",
        "--home",
        tempHome("remote-sweep-w-"),
      ]);
      procs.push(w);
      return w;
    };
    const w1 = worker();
    worker();
    await until(() => /takes runs from/.test(w1.out()), "workers up");
    const created = await host.client.call("sweeps.create", {
      spec: {
        version: 1,
        name: "grid over redis",
        base: {
          dataset: "default",
          model: "mlp",
          backend: "cpu",
          trainLimit: 300,
          testLimit: 100,
          epochs: 2,
          schedule: "paper-constant",
          noiseEvery: 0,
        },
        axes: { lr: [0.01, 0.05, 0.1], batchSize: [32, 64] },
        seeds: 2,
      },
    });
    expect(created.members).toBe(12);
    // Kill the worker of the first member to record a checkpoint, inside its next epoch.
    const runEvents = (id: string) =>
      host.events.filter(
        (e): e is Extract<ServiceEvent, { type: "run.event" }> =>
          e.type === "run.event" && e.runId === id,
      );
    const victim = await until(() => {
      for (const e of host.events) {
        if (e.type !== "run.event" || e.event.type !== "checkpoint") continue;
        const after = runEvents(e.runId);
        const cp = after.findIndex((x) => x.event.type === "checkpoint");
        if (after.slice(cp).some((x) => x.event.type === "step")) return e.runId;
      }
      return null;
    }, "a member inside its second epoch");
    const remote = runEvents(victim).filter((e) => e.event.type === "remote");
    const workerId = (remote.at(-1)?.event as { worker: string }).worker;
    process.kill(Number(/-(\d+)-[0-9a-f]{6}$/.exec(workerId)?.[1]), "SIGKILL");
    worker();

    const t0 = Date.now();
    let details = await host.client.call("sweeps.get", { id: created.id });
    while (!details.finished && Date.now() - t0 < 400_000) {
      await new Promise((r) => setTimeout(r, 500));
      details = await host.client.call("sweeps.get", { id: created.id });
    }
    expect(details.counts).toMatchObject({ completed: 12, total: 12 });
    for (const m of details.members) {
      const perEpoch = stepsPerEpoch(home, m.runId);
      expect([...perEpoch.keys()]).toEqual([0, 1]);
      expect(new Set(perEpoch.values()).size).toBe(1);
    }
    look(home, (s) => {
      const db = libraryInternals(s).db;
      const dup = db
        .prepare(
          "SELECT count(*) AS n FROM (SELECT run_id, key, step FROM metric_values GROUP BY 1, 2, 3 HAVING count(*) > 1)",
        )
        .get() as { n: number };
      expect(dup.n).toBe(0);
      const env = s.getRun(victim).environment as {
        remote?: { delivery: number; worker: string }[];
      };
      expect(env.remote?.map((r) => r.delivery)).toEqual([1, 2]);
      expect(new Set(env.remote?.map((r) => r.worker)).size).toBe(2);
    });
  });
});
