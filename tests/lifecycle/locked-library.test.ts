/**
 * Done 5 of the run-lifecycle issue: another process holds the library's
 * write lock (a real second SQLite connection, BEGIN IMMEDIATE) for 12 s
 * while `sgd-studio train` records. The host keeps streaming progress (its
 * event loop never waits on the lock), and either recording catches up
 * (every row there, exit 0) or, past the write timeout, the run ends
 * `interrupted` with the reason and a non-zero exit: never exit 0 with rows
 * missing.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { cli, look, stepsPerEpoch, tempHome, until } from "./hosts.js";

const SCHEDULE = {
  version: 1,
  epochs: 8,
  lr: { kind: "constant", lr: 0.05 },
  batch: { kind: "constant", size: 16 },
};

function start(home: string, env: Record<string, string> = {}) {
  const schedule = join(home, "schedule.json");
  writeFileSync(schedule, JSON.stringify(SCHEDULE));
  const args = ["train", "--home", home, "--schedule", schedule, "--backend", "cpu"];
  return cli([...args, "--train-limit", "400", "--seed", "2", "--json"], env);
}

const events = (out: string) =>
  out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { type: string; epoch?: number; id?: string });

/** Holds the write lock from a second connection for `ms`; returns the step events seen meanwhile. */
async function holdLock(home: string, ms: number, out: () => string): Promise<number> {
  const db = new Database(join(home, "library.db"));
  db.exec("BEGIN IMMEDIATE");
  const before = events(out()).filter((e) => e.type === "step").length;
  await new Promise((r) => setTimeout(r, ms));
  const during = events(out()).filter((e) => e.type === "step").length - before;
  db.exec("ROLLBACK");
  db.close();
  return during;
}

describe("a library locked by another process during training", () => {
  it("12 s lock: the host keeps going, recording catches up, every row is there", async () => {
    const home = tempHome("locked-ok-");
    const p = start(home);
    await until(() => events(p.out()).some((e) => e.type === "epoch" && e.epoch === 0), "epoch 1");
    const during = await holdLock(home, 12_000, p.out);
    // Progress kept streaming while the lock was held: nothing waited on it.
    expect(during).toBeGreaterThan(10);
    const { code } = await p.exited;
    expect(p.err()).toBe("");
    expect(code).toBe(0);
    const id = events(p.out())[0]?.id as string;
    const run = look(home, (s) => s.getRun(id));
    expect(run.status).toBe("completed");
    const perEpoch = stepsPerEpoch(home, id);
    expect([...perEpoch.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(perEpoch.values())).toEqual(new Set([25]));
    expect(stepsPerEpoch(home, id, "testAccuracy").size).toBe(8);
  });

  it("a lock longer than the write timeout: interrupted with the reason, non-zero exit, resumable", async () => {
    const home = tempHome("locked-fail-");
    const p = start(home, { SGD_STUDIO_WRITE_TIMEOUT_MS: "3000" });
    await until(() => events(p.out()).some((e) => e.type === "epoch" && e.epoch === 0), "epoch 1");
    const lock = holdLock(home, 12_000, p.out);
    const { code } = await p.exited;
    expect(code).not.toBe(0);
    expect(p.err()).toMatch(/library .* stayed locked by another process for \d+ s/);
    expect(p.err()).toMatch(/sgd-studio train --resume/);
    await lock;
    const id = events(p.out())[0]?.id as string;
    // The host could not write the verdict while locked; the library recovers it on open.
    const run = look(home, (s) => {
      s.recoverInterrupted();
      return s.getRun(id);
    });
    expect(run.status).toBe("interrupted");
    const resumed = cli(["train", "--resume", id, "--home", home, "--json"]);
    expect((await resumed.exited).code).toBe(0);
    const perEpoch = stepsPerEpoch(home, id);
    expect([...perEpoch.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(perEpoch.values())).toEqual(new Set([25]));
  });
});
