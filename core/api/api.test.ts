// core/api is the contract every host and the renderer import: it must not pull in
// TensorFlow.js, SQLite or the training engine, and the library's read path
// (`sgd-studio runs list`) must not load TensorFlow.js either.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { METHODS } from "./contract.js";
import {
  BACKEND_CHOICES,
  BACKEND_NAMES,
  DATASET_NAMES,
  MODEL_NAMES,
  OPTIMIZER_KINDS,
  RUN_STATUSES,
  X_AXES,
} from "./lists.js";
import { OptimizerSchema, TrainSpecSchema } from "./spec.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const API = join(ROOT, "core/api");

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** Every module specifier a file names: imports, `import type`, re-exports, dynamic imports. */
function specifiers(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

/** The import graph from `entries` (type-only edges included): project files and packages reached. */
function importGraph(entries: string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of specifiers(file)) {
      if (spec.startsWith(".")) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
        const found = [target, `${target}.ts`, join(target, "index.ts")].find((p) => existsSync(p));
        if (!found) throw new Error(`${relative(ROOT, file)}: cannot resolve ${spec}`);
        todo.push(found);
      } else if (!spec.startsWith("node:")) {
        packages.set(spec, relative(ROOT, file));
      }
    }
  }
  return { files, packages };
}

describe("core/api", () => {
  const entries = readdirSync(API)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .map((f) => join(API, f));

  it("imports no TensorFlow.js, no SQLite, nothing of the engine or the store (type imports included)", () => {
    const { files, packages } = importGraph(entries);
    const bad = [...packages].filter(
      ([p]) => p.startsWith("@tensorflow/") || p === "better-sqlite3" || p === "webgpu",
    );
    expect(bad).toEqual([]);
    // zod is the only package it needs.
    expect([...packages.keys()].sort()).toEqual(["zod"]);
    const outside = [...files]
      .map((f) => relative(ROOT, f))
      .filter((f) => /^core\/(engine|store|models|data\/(?!rng\.ts)|service)\//.test(f));
    expect(outside).toEqual([]);
    // It did walk something: the landscape params the contract validates with.
    expect([...files].map((f) => relative(ROOT, f))).toContain("core/landscape/params.ts");
  });

  it("lists.ts is plain constants (the renderer imports it at run time)", () => {
    expect(specifiers(join(API, "lists.ts"))).toEqual([]);
  });

  it("declares each list once, and the schemas use them", () => {
    expect(BACKEND_CHOICES).toEqual(["auto", ...BACKEND_NAMES]);
    expect(OptimizerSchema.shape.kind.options).toEqual([...OPTIMIZER_KINDS]);
    expect(OptimizerSchema.safeParse({ kind: "rmsprop" }).error?.issues[0]?.message).toBe(
      "optimizer must be one of sgd, momentum, nesterov, adam, adamw",
    );
    expect(METHODS["runs.list"].safeParse({ status: ["bogus"] }).success).toBe(false);
    expect(METHODS["runs.list"].safeParse({ status: [...RUN_STATUSES] }).success).toBe(true);
    expect(METHODS["runs.metrics"].shape.x.unwrap().options).toEqual([...X_AXES]);
    expect(new Set(MODEL_NAMES).size).toBe(MODEL_NAMES.length);
    expect(DATASET_NAMES).toContain("default");
    const spec = TrainSpecSchema.parse({ dataset: "default", model: "mlp", schedule: {} });
    expect(spec.optimizer.kind).toBe("sgd");
  });
});

describe("the library's read path", () => {
  it("`sgd-studio runs list` (the whole CLI) and the api load no TensorFlow.js module", () => {
    const dir = mkdtempSync(join(tmpdir(), "api-no-tfjs-"));
    temps.push(dir);
    const home = join(dir, "home");
    const log = join(dir, "loaded.txt");
    // A resolve hook (module.register) that records every URL the ESM loader resolves.
    const hook = join(dir, "hook.mjs");
    writeFileSync(
      hook,
      `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + "\\n");
  return r;
}
`,
    );
    const register = join(dir, "register.mjs");
    writeFileSync(
      register,
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`,
    );
    // The whole command line (cli/main.ts registers every command), as `sgd-studio runs list` runs.
    const script = `
const { RunStore } = await import("./core/store/store.ts");
const { main } = await import("./cli/main.ts");
await import("./core/api/index.ts");
await import("./core/service/contract.ts");
const { createRequire } = await import("node:module");
const home = ${JSON.stringify(home)};
const store = RunStore.open(home);
store.createRun({ dataset: "default", model: "mlp", schedule: { name: "tfjs-free" } });
store.close();
let out = "";
const io = { out: (t) => { out += t; }, err: (t) => { out += t; } };
const code = await main(["runs", "list", "--home", home, "--json"], io);
if (code !== 0) throw new Error("runs list exited " + code + ": " + out);
const cached = Object.keys(createRequire(process.cwd() + "/").cache);
process.stdout.write(JSON.stringify({ out, cached }));
`;
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        pathToFileURL(register).href,
        "--input-type=module",
        "-e",
        script,
      ],
      { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
    );
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const { out, cached } = JSON.parse(r.stdout) as { out: string; cached: string[] };
    const listed = JSON.parse(out) as { scheduleName: string | null }[];
    expect(listed.map((run) => run.scheduleName)).toEqual(["tfjs-free"]);
    const loaded = readFileSync(log, "utf8").split("\n").filter(Boolean);
    // The hook saw the modules (so an empty result below means something).
    expect(loaded.some((u) => u.endsWith("/core/store/store.ts"))).toBe(true);
    expect(loaded.some((u) => u.endsWith("/cli/commands/doctor.ts"))).toBe(true);
    expect(loaded.some((u) => u.includes("/node_modules/better-sqlite3/"))).toBe(true);
    const tfjs = [...loaded, ...cached].filter((u) => /[\\/]@tensorflow[\\/]/.test(u));
    expect(tfjs).toEqual([]);
  });
});
