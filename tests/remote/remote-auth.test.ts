/**
 * A Redis with a password and TLS (`rediss://`, a throwaway CA trusted through
 * NODE_EXTRA_CA_CERTS): a `serve` host and a worker train a run through it;
 * a wrong password or an untrusted certificate is a clear error, not a hang;
 * the password never appears in what they print.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, look, type Proc, serve, tempHome, tinySpec, until } from "../lifecycle/hosts.js";
import { type RedisServer, redisFound, startRedis } from "./redis.js";

if (!redisFound && !process.env.CI) console.warn("skipping: /usr/bin/redis-server is missing");
const withRedis = describe.skipIf(!redisFound && !process.env.CI);

const PASSWORD = "s3cret-p@ss";
let redis: RedisServer;
const procs: Proc[] = [];
beforeAll(async () => {
  if (redisFound) redis = await startRedis({ password: PASSWORD, tls: true });
});
afterAll(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  await redis?.stop();
});

withRedis("Redis with a password and TLS", () => {
  it("trains a run through rediss:// with a password; the password is never printed", async () => {
    expect(redis.url).toMatch(/^rediss:\/\/:s3cret-p%40ss@127\.0\.0\.1:\d+$/);
    const env = { NODE_EXTRA_CA_CERTS: redis.ca as string };
    const home = tempHome("remote-auth-");
    const host = await serve(home, { ...env, SGD_STUDIO_REDIS_URL: redis.url });
    procs.push(host);
    const worker = cli(["worker", "--home", tempHome("remote-auth-w-")], {
      ...env,
      SGD_STUDIO_REDIS_URL: redis.url,
    });
    procs.push(worker);
    await until(() => /takes runs from rediss:/.test(worker.out()), `the worker (${worker.err()})`);
    const workers = cli(["workers", "--redis", redis.url, "--json"], env);
    expect((await workers.exited).code).toBe(0);
    const list = JSON.parse(workers.out()) as { id: string; jobs: string[] }[];
    expect(list).toHaveLength(1);
    await host.client.call("runs.list", {});
    const { id } = await host.client.call("runs.start", { spec: tinySpec(1, 1) });
    const run = await until(
      () => look(home, (s) => (s.getRun(id).status === "completed" ? s.getRun(id) : null)),
      "the run to complete",
      120_000,
    );
    expect(run.lastEpoch).toBe(0);
    for (const p of [host, worker, workers]) {
      expect(p.out() + p.err()).not.toContain(PASSWORD);
      expect(p.out() + p.err()).not.toContain("s3cret-p%40ss");
    }
    expect(worker.out()).toContain("rediss://:***@127.0.0.1");
  });

  it("a wrong password or an untrusted certificate: a clear error and exit code 1", async () => {
    const wrong = redis.url.replace("s3cret-p%40ss", "nope");
    const p1 = cli(["workers", "--redis", wrong], { NODE_EXTRA_CA_CERTS: redis.ca as string });
    expect((await p1.exited).code).toBe(1);
    expect(p1.err()).toMatch(
      /cannot reach Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?: .*(WRONGPASS|invalid)/i,
    );
    const p2 = cli(["workers", "--redis", redis.url]);
    expect((await p2.exited).code).toBe(1);
    expect(p2.err()).toMatch(/cannot reach Redis at .*certificate/i);
    const p3 = cli(["worker", "--redis", "http://x:1"]);
    expect((await p3.exited).code).toBe(2);
    expect(p3.err()).toMatch(/--redis: .* a Redis URL starts with redis:\/\/ or rediss:\/\//);
  });
});
