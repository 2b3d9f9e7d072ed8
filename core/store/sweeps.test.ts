// Sweeps in the library: members are ordinary queued runs; one run per (sweep, member key),
// even from a second connection or a second process; held sweeps are not claimed.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testSpec } from "./fixtures.js";
import { currentOwner } from "./owner.js";
import { libraryInternals, RunStore } from "./store.js";
import { SweepStore } from "./sweeps.js";

const WRITER = fileURLToPath(new URL("./sweep-writer.ts", import.meta.url));

let home = "";
let store: RunStore;
let sweeps: SweepStore;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "sweeps-"));
  store = RunStore.open(home);
  sweeps = new SweepStore(store);
});
afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

const member = (i: number) => ({
  key: `m${i}`,
  values: { lr: i / 10, seed: 0 },
  spec: testSpec({ seed: i }) as Record<string, unknown>,
});

describe("sweeps in the library", () => {
  it("records a sweep with queued member runs carrying the sweep id, key and values", () => {
    const { id, created } = sweeps.create({ name: "s", spec: { version: 1 }, noise: null }, [
      member(1),
      member(2),
    ]);
    expect(created).toHaveLength(2);
    const runs = sweeps.members(id);
    expect(runs.map((r) => r.status)).toEqual(["queued", "queued"]);
    expect(runs[0]?.sweep).toEqual({ id, member: "m1", values: { lr: 0.1, seed: 0 } });
    expect(store.queuedRunIds()).toEqual(created);
    expect(sweeps.get(id.slice(3, 12))).toMatchObject({ id, state: "active", name: "s" });
    // Adding the same members again (an extend, a second host) makes nothing new.
    expect(sweeps.addMembers(id, [member(1), member(2), member(3)])).toHaveLength(1);
    expect(sweeps.members(id)).toHaveLength(3);
  });

  it("a second connection cannot insert a member the sweep has (UNIQUE index)", () => {
    const { id } = sweeps.create({ name: null, spec: {}, noise: null }, [member(1)]);
    const other = RunStore.open(home, { recover: false });
    try {
      expect(() =>
        other.createRun(testSpec(), undefined, { sweep: { id, member: "m1", values: {} } }),
      ).toThrow(expect.objectContaining({ code: "SQLITE_CONSTRAINT_UNIQUE" }));
      // The same key in another sweep, and runs outside sweeps, are fine.
      other.createRun(testSpec(), undefined, {
        sweep: { id: "sw-other", member: "m1", values: {} },
      });
      other.createRun(testSpec());
      other.createRun(testSpec());
    } finally {
      other.close();
    }
  });

  it("two processes adding the same 200 members at once make each exactly once", async () => {
    const { id } = sweeps.create({ name: null, spec: {}, noise: null }, []);
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", WRITER, home, id, "200"], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        let out = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c.toString();
        });
        child.on("close", (code) =>
          code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited ${code}`)),
        );
      });
    // Two real processes plus this one's own connection, all at once.
    const both = Promise.all([run(), run()]);
    const mine: string[] = [];
    for (let i = 0; i < 200; i += 10) {
      mine.push(
        ...sweeps.addMembers(
          id,
          Array.from({ length: 10 }, (_, j) => member(i + j)),
        ),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
    const [a, b] = await both;
    expect(a.length + b.length + mine.length).toBe(200);
    const keys = libraryInternals(store)
      .db.prepare(
        "SELECT sweep_member, count(*) AS n FROM runs WHERE sweep_id = ? GROUP BY sweep_member",
      )
      .all(id) as { sweep_member: string; n: number }[];
    expect(keys).toHaveLength(200);
    expect(keys.every((k) => k.n === 1)).toBe(true);
  }, 60_000);

  it("members of a paused or cancelled sweep are not claimed; a filter claims one sweep's members only", () => {
    const plain = store.createRun(testSpec());
    const s1 = sweeps.create({ name: null, spec: {}, noise: null }, [member(1)]);
    const s2 = sweeps.create({ name: null, spec: {}, noise: null }, [member(2)]);
    const owner = currentOwner();
    sweeps.setState(s1.id, "paused");
    expect(store.claimableRunIds()).toEqual([plain.id, s2.created[0]]);
    expect(store.claimNext(owner, 60_000, { sweepId: s1.id })).toBeNull();
    expect(store.claimNext(owner, 60_000, { sweepId: s2.id })?.id).toBe(s2.created[0]);
    sweeps.setState(s1.id, "active");
    expect(store.claimNext(owner, 60_000, { sweepId: s1.id })?.id).toBe(s1.created[0]);
    expect(store.claimNext(owner, 60_000)?.id).toBe(plain.id);
    // Held members still show in the queue (they wait), only claims skip them.
    sweeps.setState(s1.id, "cancelled");
    expect(store.queuedRunIds()).toEqual([]);
  });
});
