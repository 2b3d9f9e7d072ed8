/**
 * Sweeps survive their host: `sgd-studio sweep run` SIGKILLed while members
 * train, then started again. Every member ends completed, none trained twice
 * (each member key one run; members finished before the kill keep attempt 1,
 * those cut short resume as attempt 2), none lost, no step recorded twice,
 * every epoch of every member has its steps.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { libraryInternals } from "../../core/store/store.js";
import { childPids, cli, look, stepsPerEpoch, tempHome, until } from "./hosts.js";

const SWEEP = {
  version: 1,
  name: "kill-test",
  base: {
    dataset: "default",
    model: "mlp",
    backend: "cpu",
    trainLimit: 300,
    testLimit: 100,
    epochs: 3,
    schedule: "paper-constant",
  },
  // Batches of 16: 19 steps per epoch, so a kill lands inside an epoch.
  axes: { lr: [0.02, 0.05, 0.1], batchSize: [16] },
  seeds: 2,
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("sweep run SIGKILLed mid-way, started again", () => {
  it("completes every member exactly once, resuming the ones cut short", async () => {
    const home = tempHome("sweep-kill-");
    const file = join(home, "sweep.json");
    writeFileSync(file, JSON.stringify(SWEEP));
    const made = cli(["sweep", "create", file, "--home", home, "--json"]);
    expect((await made.exited).code, made.err()).toBe(0);
    const id = JSON.parse(made.out()).id as string;

    const first = cli(["sweep", "run", id, "--concurrency", "2", "--home", home]);
    // Kill once a member has finished and two are mid-training (an epoch done, not the last).
    await until(
      () =>
        look(home, (s) => {
          const runs = s.listRuns().filter((r) => r.sweep?.id === id);
          const done = runs.filter((r) => r.status === "completed").length;
          const mid = runs.filter(
            (r) => r.status === "running" && r.lastEpoch !== null && r.lastEpoch < 2,
          );
          return done >= 1 && mid.length >= 1;
        }),
      `a completed member and one mid-training (out: ${first.out()} err: ${first.err()})`,
      180_000,
    );
    const workers = childPids(first.pid);
    const before = look(home, (s) =>
      s
        .listRuns()
        .filter((r) => r.sweep?.id === id)
        .map((r) => ({ id: r.id, status: r.status })),
    );
    first.kill("SIGKILL");
    await first.exited;
    // The host's training workers notice and end too (no orphan keeps training).
    await until(() => workers.every((p) => !alive(p)), "the killed host's workers to end", 30_000);
    const cut = before.filter((r) => r.status === "running").map((r) => r.id);
    const finished = before.filter((r) => r.status === "completed").map((r) => r.id);
    expect(cut.length).toBeGreaterThanOrEqual(1);

    const second = cli(["sweep", "run", id, "--concurrency", "2", "--home", home, "--json"]);
    const end = await second.exited;
    expect(end.code, second.err()).toBe(0);
    const summary = JSON.parse(second.out().trim().split("\n").at(-1) as string);
    expect(summary).toMatchObject({ members: 6, completed: 6, failed: 0 });

    const runs = look(home, (s) => s.listRuns().filter((r) => r.sweep?.id === id));
    expect(runs).toHaveLength(6);
    expect(new Set(runs.map((r) => r.sweep?.member)).size).toBe(6);
    for (const r of runs) {
      expect(r.status).toBe("completed");
      if (finished.includes(r.id)) expect(r.attempt).toBe(1);
      if (cut.includes(r.id)) expect(r.attempt).toBe(2);
      // Every epoch has all its steps, once.
      const per = stepsPerEpoch(home, r.id);
      expect([...per.keys()]).toEqual([0, 1, 2]);
      expect(new Set(per.values())).toEqual(new Set([19]));
    }
    const dup = look(
      home,
      (s) =>
        libraryInternals(s)
          .db.prepare(
            "SELECT count(*) AS n FROM (SELECT run_id, key, step FROM metric_values GROUP BY 1, 2, 3 HAVING count(*) > 1)",
          )
          .get() as { n: number },
    );
    expect(dup.n).toBe(0);
  }, 420_000);
});
