/**
 * Remote training overhead and scaling (issue 15, docs/remote.md): the same
 * tiny runs trained by a host's local worker process, by one remote
 * `sgd-studio worker` through BullMQ on a real redis-server, and by two.
 * Prints the seconds per run of each, the remote overhead per run (dispatch,
 * stream relay and ingestion, checkpoint uploads) and the 1-to-2-worker ratio.
 *
 * Run: npx tsc -p tsconfig.json && npx tsx bench/remote.bench.ts [--runs 8] [--epochs 2]
 */
import type { ServiceEvent } from "../core/api/contract.js";
import { startTraining, type TrainingLauncher } from "../core/engine/worker-client.js";
import { connect, remoteLauncher } from "../core/remote/index.js";
import { jobIdOf, keys } from "../core/remote/keys.js";
import { RunManager } from "../core/service/run-manager.js";
import { cli, type Proc, tempHome, tinySpec, until } from "../tests/lifecycle/hosts.js";
import { startRedis } from "../tests/remote/redis.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const RUNS = arg("runs", 8);
const EPOCHS = arg("epochs", 2);
const spec = (seed: number) =>
  tinySpec(seed, EPOCHS, {
    schedule: {
      version: 1,
      epochs: EPOCHS,
      lr: { kind: "constant", lr: 0.05 },
      batch: { kind: "constant", size: 16 },
    },
    noiseEvery: 0,
  });

let t0 = 0;
/** When the host's RunManager got each step (ms since the epoch), by `<run>/<step>`. */
const arrivals = new Map<string, number>();
const lastIds: string[] = [];
/** Trains RUNS runs through `launch` with `concurrency` at once; seconds of the whole batch and steps recorded. */
async function batch(
  launch: TrainingLauncher,
  concurrency: number,
): Promise<{ seconds: number; steps: number; firstStep: number }> {
  const home = tempHome("bench-remote-");
  let steps = 0;
  let firstStep = 0;
  const m = new RunManager({ home, launch, concurrency }, (e: ServiceEvent) => {
    if (e.type === "run.event" && e.event.type === "step") {
      arrivals.set(`${e.runId}/${e.event.step}`, Date.now());
      steps++;
      // The first run's first step: dispatch, engine start and relay, with nothing ahead of it.
      if (steps === 1) firstStep = (performance.now() - t0) / 1000;
    }
  });
  t0 = performance.now();
  const ids = [];
  for (let i = 0; i < RUNS; i++) ids.push(m.start({ spec: spec(i) } as never).id);
  lastIds.splice(0, lastIds.length, ...ids);
  for (const id of ids) {
    const run = await m.whenFinished(id);
    await until(
      () => !["queued", "running"].includes(m.store.getRun(id).status),
      `run ${id}`,
      600_000,
    );
    if (m.store.getRun(id).status !== "completed")
      throw new Error(`run ${run.id}: ${m.store.getRun(id).status}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  await m.close();
  return { seconds, steps, firstStep };
}

const redis = await startRedis();
const workers: Proc[] = [];
const startWorkers = async (n: number) => {
  while (workers.length < n) {
    const w = cli(["worker", "--redis", redis.url, "--home", tempHome("bench-remote-w-")]);
    workers.push(w);
    await until(() => /takes runs from/.test(w.out()), "a worker");
  }
};
try {
  console.log(
    `${RUNS} runs of mlp, ${EPOCHS} epochs of 300 images (batch 16, 19 steps an epoch), cpu backend`,
  );
  const local = await batch(startTraining, 1);
  console.log(
    `local worker process, 1 at a time:   ${local.seconds.toFixed(1)} s, ${(local.seconds / RUNS).toFixed(2)} s per run, ${local.steps} steps, first step after ${local.firstStep.toFixed(2)} s`,
  );
  const remote = remoteLauncher({ url: redis.url });
  await startWorkers(1);
  const one = await batch(remote.launch, RUNS);
  console.log(
    `1 remote worker (BullMQ on Redis):   ${one.seconds.toFixed(1)} s, ${(one.seconds / RUNS).toFixed(2)} s per run, ${one.steps} steps, first step after ${one.firstStep.toFixed(2)} s`,
  );
  await startWorkers(2);
  const two = await batch(remote.launch, RUNS);
  console.log(
    `2 remote workers:                    ${two.seconds.toFixed(1)} s, ${(two.seconds / RUNS).toFixed(2)} s per run, ${two.steps} steps, first step after ${two.firstStep.toFixed(2)} s`,
  );
  await remote.close();
  // Relay latency: a step's stream entry id is the Redis server's clock when the worker added it.
  const redisClient = connect(redis.url);
  const lat: number[] = [];
  for (const id of lastIds) {
    for (const [entry, fields] of await redisClient.xrange(keys.events(jobIdOf(id, 1)), "-", "+")) {
      const msg = JSON.parse(fields[fields.indexOf("m") + 1] as string);
      if (msg.type !== "event" || msg.event.type !== "step") continue;
      const got = arrivals.get(`${id}/${msg.event.step}`);
      if (got) lat.push(got - Number(entry.split("-")[0]));
    }
  }
  redisClient.disconnect();
  lat.sort((x, y) => x - y);
  const q = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))] ?? Number.NaN;
  console.log(
    `relay latency of a step (worker's XADD -> host's RunManager), ${lat.length} steps: median ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${q(1)} ms`,
  );
  const overhead = (one.seconds - local.seconds) / RUNS;
  console.log(
    `remote overhead per run: ${overhead.toFixed(2)} s (${((100 * overhead) / (local.seconds / RUNS)).toFixed(0)}% of a local run)`,
  );
  console.log(`1 -> 2 workers: ${(one.seconds / two.seconds).toFixed(2)}x faster`);
} finally {
  for (const w of workers) {
    w.kill("SIGKILL");
    await w.exited;
  }
  await redis.stop();
}
