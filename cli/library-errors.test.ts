// A library that cannot be used (not a database, truncated, damaged past its first pages,
// read-only, under a path that is not a folder): `runs`, `train` and `serve` print one line
// that names the file and the fix, exit 1, and never show a stack trace.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { syntheticRun, testSpec } from "../core/store/fixtures.js";
import { libraryInternals, RunStore } from "../core/store/store.js";
import { runCli } from "./testing.js";

const cli = runCli;

const temps: string[] = [];
function temp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const d of temps) {
    try {
      chmodSync(d, 0o755);
      chmodSync(join(d, "home"), 0o755);
    } catch {}
    rmSync(d, { recursive: true, force: true });
  }
});

/** The three commands that open the library; none may get as far as training or listening. */
const COMMANDS: string[][] = [
  ["runs", "list"],
  ["train", "--backend", "cpu", "--epochs", "1", "--train-limit", "10"],
  ["serve", "--port", "0", "--no-open"],
];

const damaged = (db: string, why: string) =>
  `the library ${db} is damaged (${why}): move it aside and SGD Studio starts a new one; \`sqlite3 ${db} .recover\` may rescue its runs (then import them)`;

/** Every command prints exactly `error: <message>` on one line and exits 1. */
async function expectEveryCommand(home: string, message: string): Promise<void> {
  for (const command of COMMANDS) {
    const r = await cli(...command, "--home", home);
    expect({ command: command[0], code: r.code, err: r.err, out: r.out }).toEqual({
      command: command[0],
      code: 1,
      err: `error: ${message}\n`,
      out: "",
    });
  }
}

/** A real library with a run and its metrics, its WAL folded into library.db, closed. */
function realLibrary(
  home: string,
  stepsPerEpoch = 20,
): { db: string; id: string; metricPages: number[] } {
  const store = RunStore.open(home);
  const run = store.createRun(testSpec());
  const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
  for (const e of syntheticRun({ epochs: 3, stepsPerEpoch })) rec.record(e);
  rec.close();
  for (let i = 0; i < 20; i++) store.setNote(store.createRun(testSpec()).id, "n".repeat(3000));
  const { db } = libraryInternals(store);
  db.pragma("wal_checkpoint(TRUNCATE)");
  // The pages that hold the run's metric values (SQLite's dbstat table), 1-based.
  const metricPages = (
    db.prepare("SELECT pageno FROM dbstat WHERE name = 'metric_chunks' ORDER BY pageno").all() as {
      pageno: number;
    }[]
  ).map((p) => p.pageno);
  store.close();
  return { db: join(home, "library.db"), id: run.id, metricPages };
}

describe("a library that cannot be used: one line naming the file and the fix, exit 1", () => {
  it("library.db is not a database (random bytes)", async () => {
    const home = temp("lib-random-");
    const db = join(home, "library.db");
    writeFileSync(db, randomBytes(8192));
    await expectEveryCommand(home, damaged(db, "file is not a database"));
  });

  it("library.db is truncated", async () => {
    const home = temp("lib-truncated-");
    const { db } = realLibrary(home);
    const pages = statSync(db).size / 4096;
    expect(pages).toBeGreaterThan(8);
    truncateSync(db, Math.floor(pages / 2) * 4096);
    await expectEveryCommand(home, damaged(db, "database disk image is malformed"));
  });

  it("damage SQLite finds only when a command reads the page: the same message", async () => {
    const home = temp("lib-bad-page-");
    const { db, id, metricPages } = realLibrary(home, 400);
    // A page of the run's metric values overwritten with garbage.
    const page = metricPages.at(-1);
    if (page === undefined) throw new Error("the library has no metric pages");
    const fd = openSync(db, "r+");
    writeSync(fd, Buffer.alloc(4096, 0x55), 0, 4096, (page - 1) * 4096);
    closeSync(fd);
    expect((await cli("runs", "list", "--home", home)).code).toBe(0);
    // `runs show` reads the run's summaries, not its values: it still works.
    expect((await cli("runs", "show", id, "--home", home)).code).toBe(0);
    for (const command of [
      ["runs", "export", id, "--format", "csv", "--out", "-"],
      ["runs", "export", id, "--format", "json", "--out", "-"],
    ]) {
      const r = await cli(...command, "--home", home);
      expect({ code: r.code, err: r.err }).toEqual({
        code: 1,
        err: `error: ${damaged(db, "database disk image is malformed")}\n`,
      });
    }
  });

  it("the library's path goes through a regular file (no folder can be made there)", async () => {
    const dir = temp("lib-not-a-folder-");
    const file = join(dir, "a-file");
    writeFileSync(file, "not a folder\n");
    const home = join(file, "home");
    const db = join(home, "library.db");
    await expectEveryCommand(
      home,
      `cannot open the library ${db} (ENOTDIR: not a directory, mkdir '${home}'): check that its folder exists, is a folder and is writable, or use another library with --home <dir>`,
    );
  });
});

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Root writes through chmod, so as root the command runs as `nobody` (uid
 * 65534), for whom the library is read-only as it is for its owner elsewhere.
 */
const asRoot = process.getuid?.() === 0;
const identity = asRoot ? { uid: 65534, gid: 65534 } : {};
const canDropRoot =
  !asRoot || spawnSync(process.execPath, ["-e", ""], { ...identity, timeout: 20_000 }).status === 0;

describe.skipIf(process.platform === "win32" || !canDropRoot)("a read-only library", () => {
  it("chmod 444 on library.db and 555 on its folder: every command refuses it, the file unchanged", () => {
    const dir = temp("lib-read-only-");
    chmodSync(dir, 0o755); // so that `nobody` reaches the home inside
    const home = join(dir, "home");
    mkdirSync(home);
    const { db } = realLibrary(home);
    const before = readFileSync(db);
    chmodSync(db, 0o444);
    chmodSync(home, 0o555);
    for (const command of COMMANDS) {
      const r = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          "-e",
          `import(${JSON.stringify(MAIN)}).then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); })`,
          ...command,
          "--home",
          home,
        ],
        {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 60_000,
          env: { ...process.env, HOME: dir },
          ...identity,
        },
      );
      expect({ command: command[0], status: r.status, stderr: r.stderr, stdout: r.stdout }).toEqual(
        {
          command: command[0],
          status: 1,
          stderr: `error: the library ${db} is read-only (no write permission: ${db}): make the file and its folder writable, or use another library with --home <dir> (or SGD_STUDIO_HOME)\n`,
          stdout: "",
        },
      );
    }
    expect(readFileSync(db).equals(before)).toBe(true);
  }, 120_000);
});
