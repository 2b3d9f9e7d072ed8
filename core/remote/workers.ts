/** The connected workers (`sgd-studio workers`, service method workers.list): their presence hashes. */
import type { Redis } from "ioredis";
import type { WorkerInfo } from "../api/workers.js";
import { keys } from "./keys.js";

export type { WorkerInfo };

export async function listWorkers(redis: Redis): Promise<WorkerInfo[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", keys.workerPattern, "COUNT", 200);
    cursor = next;
    found.push(...batch);
  } while (cursor !== "0");
  const out: WorkerInfo[] = [];
  for (const key of found.sort()) {
    const h = await redis.hgetall(key);
    if (!h.id) continue;
    let jobs: string[] = [];
    try {
      jobs = JSON.parse(h.jobs ?? "[]") as string[];
    } catch {}
    out.push({
      id: h.id,
      host: h.host ?? "",
      pid: Number(h.pid),
      concurrency: Number(h.concurrency),
      backend: h.backend || null,
      startedAt: h.startedAt ?? "",
      seenAt: h.seenAt ?? "",
      jobs,
    });
  }
  return out;
}
