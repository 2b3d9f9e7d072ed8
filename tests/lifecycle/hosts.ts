/**
 * Real host processes for the run-lifecycle tests: `sgd-studio serve` and
 * `sgd-studio train` as separate Node processes (the compiled CLI in dist/,
 * which `npm test` builds first), a WebSocket client to drive a serve host
 * the way the renderer does, and helpers to read the library afterwards.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import WebSocket from "ws";
import type { ServiceEvent } from "../../core/api/contract.js";
import { libraryInternals, RunStore } from "../../core/store/store.js";
import {
  createClient,
  type StudioClient,
  type WebSocketConstructor,
} from "../../renderer/src/lib/transport/index.js";

export const ROOT = resolve(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "bin", "sgd-studio.js");

export function tempHome(prefix = "lifecycle-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A tiny run: 300 embedded images, mlp on the cpu backend (~1 s per epoch). */
export function tinySpec(seed: number, epochs = 3, extra: Record<string, unknown> = {}) {
  return {
    dataset: "default",
    model: "mlp",
    backend: "cpu",
    seed,
    trainLimit: 300,
    testLimit: 100,
    epochs,
    schedule: "paper-hybrid",
    ...extra,
  };
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  out: () => string;
  err: () => string;
  /** Resolves with the exit code (null when killed) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `node bin/sgd-studio.js ...args` with its own environment additions. */
export function cli(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("close", (code, signal) => r({ code, signal })),
  );
  return {
    child,
    pid: child.pid as number,
    out: () => out,
    err: () => err,
    exited,
    kill: (signal = "SIGKILL") => {
      child.kill(signal);
    },
  };
}

/** Waits until `pred` holds, polling every 50 ms; throws with `what` after `ms`. */
export async function until<T>(
  pred: () => T | null | undefined | false,
  what: string,
  ms = 60_000,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ServeHost extends Proc {
  url: string;
  client: StudioClient;
  events: ServiceEvent[];
}

/** Starts `sgd-studio serve` on a free port and connects a client to it. */
export async function serve(home: string, env: Record<string, string> = {}): Promise<ServeHost> {
  const p = cli(["serve", "--home", home, "--port", "0", "--no-open"], env);
  const url = await until(
    () => /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/.exec(p.out())?.[0],
    `serve to print its URL (stderr: ${p.err()})`,
    30_000,
  );
  const u = new URL(url);
  const client = createClient({
    bridge: null,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    location: { protocol: "http:", host: u.host, search: u.search },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const events: ServiceEvent[] = [];
  client.on((e) => events.push(e as ServiceEvent));
  return { ...p, url, client, events };
}

/** Reads the library with a connection of its own (no recovery: a read-only look). */
export function look<T>(home: string, fn: (store: RunStore) => T): T {
  const store = RunStore.open(home, { recover: false });
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** Every (key, step) row of a run, to compare runs and attempts. */
export function rows(
  home: string,
  id: string,
): { key: string; step: number; value: number | null }[] {
  return look(
    home,
    (s) =>
      libraryInternals(s)
        .db.prepare(
          "SELECT key, step, value FROM metric_values WHERE run_id = ? ORDER BY key, step",
        )
        .all(id) as { key: string; step: number; value: number | null }[],
  );
}

/** Rows per epoch of one key: a gap shows as a missing or short epoch. */
export function stepsPerEpoch(home: string, id: string, key = "loss"): Map<number, number> {
  const list = look(
    home,
    (s) =>
      libraryInternals(s)
        .db.prepare(
          "SELECT epoch, count(*) AS n FROM metric_values WHERE run_id = ? AND key = ? GROUP BY epoch ORDER BY epoch",
        )
        .all(id, key) as { epoch: number; n: number }[],
  );
  return new Map(list.map((r) => [r.epoch, r.n]));
}

/** The children of a live process (all its threads'), e.g. a host's training worker; throws when it is gone. */
export function childPids(pid: number): number[] {
  const found = new Set<number>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
    for (const c of text.split(/\s+/)) if (c) found.add(Number(c));
  }
  return [...found];
}
