// Crash safety: a writer process killed with SIGKILL in the middle of a run leaves a library
// that opens, passes integrity_check, holds every committed metric, and shows the run interrupted.
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { libraryPaths } from "./paths.js";
import { verifySeries } from "./series.js";
import { libraryInternals, RunStore } from "./store.js";

const WRITER = fileURLToPath(new URL("./crash-writer.ts", import.meta.url));
const FLUSH_ROWS = 1000;
const homes: string[] = [];

afterAll(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

interface Outcome {
  home: string;
  runId: string;
  committed: number;
  signal: NodeJS.Signals | null;
}

/** Starts a writer, kills it with SIGKILL once `killAfter` rows are committed (plus a random delay). */
function crashWriter(killAfter: number): Promise<Outcome> {
  const home = mkdtempSync(join(tmpdir(), "crash-"));
  homes.push(home);
  const child = fork(WRITER, [home, String(FLUSH_ROWS)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  let runId = "";
  let committed = 0;
  let killing = false;
  return new Promise((resolve, reject) => {
    const timeout = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`writer did not reach ${killAfter} rows in time: ${stderr}`));
    }, 30_000);
    child.on("message", (m: { type: string; runId: string; rows?: number }) => {
      runId = m.runId;
      if (m.type === "committed") committed = Math.max(committed, m.rows ?? 0);
      if (!killing && committed >= killAfter) {
        killing = true;
        setTimeout(() => child.kill("SIGKILL"), Math.random() * 20);
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timeout);
      if (!killing) reject(new Error(`writer exited early (code ${code}): ${stderr}`));
      else resolve({ home, runId, committed, signal });
    });
  });
}

describe("crash safety", () => {
  it("SIGKILL mid-run: integrity ok, every committed row there, run interrupted and resumable", async () => {
    const outcomes = await Promise.all([
      crashWriter(8_000),
      crashWriter(20_000),
      crashWriter(33_000),
    ]);
    for (const o of outcomes) {
      expect(o.signal).toBe("SIGKILL");
      const raw = new Database(libraryPaths(o.home).db);
      expect(raw.pragma("integrity_check", { simple: true })).toBe("ok");
      expect(raw.pragma("foreign_key_check")).toEqual([]);
      raw.close();

      const before = RunStore.open(o.home, { recover: false });
      expect(before.getRun(o.runId).status).toBe("running");
      before.close();

      const store = RunStore.open(o.home, { recover: false });
      const { n } = libraryInternals(store)
        .db.prepare("SELECT count(*) AS n FROM metric_values WHERE run_id = ?")
        .get(o.runId) as { n: number };
      expect(n).toBeGreaterThanOrEqual(o.committed);
      // Transactions are all or nothing: only whole batches are in the file.
      expect(n % FLUSH_ROWS).toBe(0);
      const steps = libraryInternals(store)
        .db.prepare("SELECT count(DISTINCT step) AS s, max(step) AS m FROM metric_values")
        .get() as { s: number; m: number };
      expect(steps.s).toBe(steps.m + 1); // no holes
      // Summaries, axis and run_metrics are exactly those of the committed values.
      const pk = libraryInternals(store).pk(o.runId);
      expect(verifySeries(libraryInternals(store).db, pk)).toEqual([]);

      expect(store.recoverInterrupted()).toEqual([o.runId]);
      const run = store.getRun(o.runId);
      expect(run.status).toBe("interrupted");
      const point = store.resumePoint(o.runId);
      expect(point).not.toBeNull();
      expect(point?.epoch).toBeGreaterThanOrEqual(0);
      // Resumed after the resume point: the cut-short epochs' values go (chunk tails trimmed),
      // steps continue, and everything still agrees.
      const resumeFrom = (point?.epoch ?? -1) + 1;
      const rec = store.recorder(o.runId, { flushMs: 0, heartbeatMs: 0 });
      rec.record({
        type: "start",
        backend: "cpu",
        backendSummary: "crash test resume",
        dataset: { name: "synthetic", train: 500 * 32, test: 0, shape: [1], source: "test" },
        model: { name: "mlp", parameters: 1 },
        epochs: 1_000_000,
        steps: 500_000_000,
        startEpoch: resumeFrom,
        warnings: [],
      });
      for (let i = 0; i < 700; i++)
        rec.log(
          { loss: 0.5, a: i },
          { step: resumeFrom * 500 + i, epoch: resumeFrom + Math.floor(i / 500) },
        );
      rec.close();
      const after = libraryInternals(store)
        .db.prepare(
          "SELECT count(*) AS n, max(step) AS m, count(DISTINCT step) AS s FROM metric_values WHERE key = 'loss'",
        )
        .get() as { n: number; m: number; s: number };
      expect(after).toEqual({
        n: resumeFrom * 500 + 700,
        m: resumeFrom * 500 + 699,
        s: resumeFrom * 500 + 700,
      });
      expect(verifySeries(libraryInternals(store).db, pk)).toEqual([]);
      store.close();
    }
  });
});
