// The library opens in the standard sqlite3 shell, and the queries in docs/storage.md work there.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticRun, testSpec } from "./fixtures.js";
import { SCHEMA_VERSION } from "./schema.js";
import { RunStore } from "./store.js";

const probe = spawnSync("sqlite3", ["-version"], { encoding: "utf8" });
const missing = probe.error || probe.status !== 0 ? "the sqlite3 command is not installed" : null;
if (missing) {
  if (process.env.CI) console.error(`${missing}; CI must install Debian's sqlite3 package.`);
  else console.warn(`${missing}: skipping the sqlite3 shell test (apt-get install sqlite3).`);
}

const DOC = fileURLToPath(new URL("../../docs/storage.md", import.meta.url));

function sqlite(db: string, ...args: string[]): string {
  const r = spawnSync("sqlite3", ["-readonly", "-bail", db, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`sqlite3 ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

describe.runIf(missing === null || Boolean(process.env.CI))("the sqlite3 shell", () => {
  let home = "";
  let store: RunStore;
  let id = "";
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), "sqlite-cli-"));
    store = RunStore.open(home);
    const run = store.createRun(testSpec());
    id = run.id;
    const rec = store.recorder(id, { flushMs: 0, heartbeatMs: 0 });
    for (const e of syntheticRun({ epochs: 3, stepsPerEpoch: 250 })) rec.record(e);
    rec.close();
    store.tag(id, "baseline");
    store.setNote(id, "a note");
  });
  afterAll(() => {
    store.close();
    rmSync(home, { recursive: true, force: true });
  });

  it("is installed (CI installs the sqlite3 package)", () => {
    if (missing) throw new Error(`${missing}; CI must apt-get install sqlite3`);
    expect(probe.stdout).toMatch(/^3\.\d+/);
  });

  it("opens the library while SGD Studio has it open, and it passes integrity_check", () => {
    if (missing) return;
    const db = store.paths.db;
    expect(sqlite(db, "PRAGMA integrity_check;").trim()).toBe("ok");
    expect(sqlite(db, "PRAGMA user_version;").trim()).toBe(String(SCHEMA_VERSION));
    expect(sqlite(db, ".tables").split(/\s+/).filter(Boolean).sort()).toEqual([
      "checkpoints",
      "metric_axis",
      "metric_chunks",
      "metric_keys",
      "metric_pow2",
      "metric_slots",
      "metric_summaries",
      "metric_values",
      "notes",
      "run_metrics",
      "runs",
      "sweeps",
      "tags",
    ]);
    expect(sqlite(db, `SELECT id, status FROM runs;`).trim()).toBe(`${id}|completed`);
    expect(sqlite(db, "SELECT count(*) FROM metric_values WHERE key = 'loss';").trim()).toBe("750");
  });

  it("runs every SQL example of docs/storage.md", () => {
    if (missing) return;
    const examples = [...readFileSync(DOC, "utf8").matchAll(/```sql\n([\s\S]*?)```/g)].map(
      (m) => m[1] as string,
    );
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const sql of examples) {
      const out = sqlite(store.paths.db, sql);
      expect(out.trim(), sql).not.toBe("");
    }
  });
});
