/**
 * `sgd-studio worker`: trains runs from a BullMQ queue on Redis
 * (core/remote/worker.ts, docs/remote.md); `sgd-studio workers` lists the connected ones.
 */
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { BACKEND_NAMES } from "../../core/api/lists.js";
import { checkRedisUrl, REDIS_URL_ENV, RedisUrlError, redactUrl } from "../../core/remote/url.js";
import { resolveHome } from "../../core/store/paths.js";
import { CliError, type Io } from "../io.js";
import { oneOf, wholeNumber } from "../options.js";

/** The --redis flag, else $SGD_STUDIO_REDIS_URL; checked. */
export function redisUrlOption(flag: string | undefined, required: boolean): string | undefined {
  const url = flag ?? process.env[REDIS_URL_ENV];
  if (!url) {
    if (required)
      throw new CliError(
        `give the Redis server: --redis redis://HOST:PORT (or set ${REDIS_URL_ENV})`,
        2,
      );
    return undefined;
  }
  try {
    return checkRedisUrl(url);
  } catch (err) {
    if (err instanceof RedisUrlError) throw new CliError(`--redis: ${err.message}`, 2);
    throw err;
  }
}

/** Fails with a clear CliError when Redis cannot be reached (refused, TLS, password). */
export async function reachable(url: string): Promise<void> {
  // Loaded here: BullMQ and ioredis cost half a second, which other commands should not pay.
  const { checkReachable } = await import("../../core/remote/connection.js");
  try {
    await checkReachable(url);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

interface WorkerOptions {
  redis?: string;
  concurrency: string;
  backend?: string;
  home?: string;
  dataDir?: string;
  lockMs: string;
}

export function registerWorkerCommands(program: Command, io: Io): void {
  program
    .command("worker")
    .description("train runs from a Redis queue (BullMQ) for the app or serve on another machine")
    .option(
      "--redis <url>",
      `redis://[:password@]HOST:PORT or rediss:// for TLS (default: $${REDIS_URL_ENV})`,
    )
    .option("--concurrency <n>", "runs trained at once (one engine process each)", "1")
    .option("--backend <name>", `train every run on this backend: ${BACKEND_NAMES.join(", ")}`)
    .option("--home <dir>", "SGD Studio home (default: $SGD_STUDIO_HOME or the user-data folder)")
    .option("--data-dir <dir>", "the worker's data folder (default: <home>/worker)")
    .option(
      "--lock-ms <ms>",
      "a run whose worker is silent this long goes to another worker",
      "30000",
    )
    .action(async (opts: WorkerOptions) => {
      const url = redisUrlOption(opts.redis, true) as string;
      const concurrency = wholeNumber("--concurrency", 1)(opts.concurrency);
      const lockMs = wholeNumber("--lock-ms", 1000)(opts.lockMs);
      const backend =
        opts.backend === undefined ? undefined : oneOf("--backend", BACKEND_NAMES)(opts.backend);
      const dataDir = resolve(opts.dataDir ?? join(resolveHome(opts.home), "worker"));
      await reachable(url);
      const { startRemoteWorker } = await import("../../core/remote/worker.js");
      const worker = await startRemoteWorker({
        url,
        concurrency,
        backend,
        dataDir,
        lockMs,
        log: (line) => io.err(`${new Date().toISOString()} ${line}\n`),
      });
      io.out(
        `worker ${worker.id} takes runs from ${redactUrl(url)} (concurrency ${concurrency}${backend ? `, backend ${backend}` : ""}; data folder ${dataDir})\nCtrl-C stops it: runs in progress go back to the queue.\n`,
      );
      await new Promise<void>((done) => {
        const on = () => {
          process.off("SIGINT", on);
          process.off("SIGTERM", on);
          done();
        };
        process.on("SIGINT", on);
        process.on("SIGTERM", on);
      });
      io.out("stopping...\n");
      await worker.close();
    });

  program
    .command("workers")
    .description("list the workers connected to a Redis queue")
    .option("--redis <url>", `the Redis server (default: $${REDIS_URL_ENV})`)
    .option("--json", "print JSON")
    .action(async (opts: { redis?: string; json?: boolean }) => {
      const url = redisUrlOption(opts.redis, true) as string;
      await reachable(url);
      const { connect } = await import("../../core/remote/connection.js");
      const { listWorkers } = await import("../../core/remote/workers.js");
      const redis = connect(url, { maxRetriesPerRequest: 2, retryStrategy: () => null });
      redis.on("error", () => {});
      try {
        const list = await listWorkers(redis);
        if (opts.json) {
          io.out(`${JSON.stringify(list)}\n`);
          return;
        }
        if (list.length === 0) {
          io.out(`no workers connected to ${redactUrl(url)}\n`);
          return;
        }
        for (const w of list)
          io.out(
            `${w.id}  host ${w.host}  pid ${w.pid}  concurrency ${w.concurrency}${w.backend ? `  backend ${w.backend}` : ""}  training ${w.jobs.length ? w.jobs.join(", ") : "nothing"}\n`,
          );
      } finally {
        redis.disconnect();
      }
    });
}
