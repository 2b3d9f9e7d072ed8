/**
 * The host SIGKILLed while a remote worker trains its run: the library marks
 * the run interrupted (as for a local run), the worker stops the orphaned job
 * once the host's key expires (nobody would record it), and resuming the run
 * on a new host makes a second attempt, a new job, that resumes from the
 * library's checkpoint (uploaded by the host): every step once, every epoch whole.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import type { TrainEvent } from "../../core/engine/events.js";
import {
  cli,
  look,
  type Proc,
  serve,
  stepsPerEpoch,
  tempHome,
  tinySpec,
  until,
} from "../lifecycle/hosts.js";
import { type RedisServer, redisFound, startRedis } from "./redis.js";

const EPOCHS = 4;
const SCHEDULE = {
  version: 1,
  epochs: EPOCHS,
  lr: { kind: "constant", lr: 0.05 },
  batch: { kind: "constant", size: 16 },
};

if (!redisFound && !process.env.CI) console.warn("skipping: /usr/bin/redis-server is missing");
const withRedis = describe.skipIf(!redisFound && !process.env.CI);

let redis: RedisServer;
const procs: Proc[] = [];
beforeAll(async () => {
  if (redisFound) redis = await startRedis();
}, 120_000);
afterAll(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await redis?.stop();
}, 120_000);

withRedis("the host SIGKILLed during a remote run", () => {
  it("the run is interrupted, the worker drops the orphan, a resume completes it", async () => {
    const home = tempHome("remote-host-kill-");
    const env = { SGD_STUDIO_REDIS_URL: redis.url };
    // Steps of a known length (tests-only knob): the orphan still trains when the host's
    // key expires, however fast the machine (40 epochs took seconds on an idle one).
    const worker = cli(["worker", "--home", tempHome("remote-host-kill-w-"), "--lock-ms", "2000"], {
      ...env,
      SGD_STUDIO_TEST_STEP_DELAY_MS: "30",
    });
    procs.push(worker);
    const first = await serve(home, env);
    procs.push(first);
    await first.client.call("runs.list", {});
    // Long enough that the worker is still training when the host is killed.
    const spec = tinySpec(9, EPOCHS, {
      schedule: { ...SCHEDULE, epochs: 200 },
      epochs: 200,
      noiseEvery: 0,
    });
    const { id } = await first.client.call("runs.start", { spec });
    const events = (host: typeof first): TrainEvent[] =>
      host.events
        .filter(
          (e): e is Extract<ServiceEvent, { type: "run.event" }> =>
            e.type === "run.event" && e.runId === id,
        )
        .map((e) => e.event);
    await until(
      () => events(first).filter((e) => e.type === "checkpoint").length >= 2,
      "two checkpoints",
    );
    first.kill("SIGKILL");
    await first.exited;

    const second = await serve(home, env);
    procs.push(second);
    await second.client.call("runs.list", {});
    const cut = await until(
      () => look(home, (s) => (s.getRun(id).status === "interrupted" ? s.getRun(id) : null)),
      "the run to be interrupted",
    );
    expect(cut.resumeEpoch).toBeGreaterThanOrEqual(1);
    // The orphaned job: its worker stops it when the host key expires (30 s).
    await until(
      () => /its host stopped recording; stopping/.test(worker.err()),
      "the worker to drop the orphan",
      90_000,
    );
    // Resume: attempt 2, fewer epochs to finish quickly, from the library's checkpoint.
    await second.client.call("runs.resume", {
      id,
      override: { epochs: (cut.resumeEpoch as number) + 2 },
    });
    const done = await until(
      () => look(home, (s) => (s.getRun(id).status === "completed" ? s.getRun(id) : null)),
      "the resumed run to complete",
      120_000,
    );
    expect(done.attempt).toBe(2);
    const starts = events(second).filter(
      (e): e is Extract<TrainEvent, { type: "start" }> => e.type === "start",
    );
    expect(starts.map((s) => s.startEpoch)).toEqual([(cut.resumeEpoch as number) + 1]);
    const perEpoch = stepsPerEpoch(home, id);
    const total = (cut.resumeEpoch as number) + 2;
    expect([...perEpoch.keys()]).toEqual([...Array(total).keys()]);
    expect(new Set(perEpoch.values()).size).toBe(1);
    const remote = (done.environment as { remote?: { attempt: number; delivery: number }[] })
      .remote;
    expect(remote?.map((r) => [r.attempt, r.delivery])).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });
});
