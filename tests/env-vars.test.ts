/**
 * docs/environment.md lists every SGD_STUDIO_* variable: each name the
 * sources mention (core, cli, electron, renderer, bench, scripts, .ci) is in
 * its table, and each name in the table is still mentioned by the sources.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE_DIRS = ["core", "cli", "electron", "renderer", "bench", "scripts", ".ci"];
const SOURCE_EXT = /\.(?:[cm]?[jt]s|svelte|sh|py)$/;
const SKIP_DIRS = new Set(["node_modules", "dist", ".git"]);
const NAME = /SGD_STUDIO_[A-Z0-9_]*[A-Z0-9]/g;

/** Source files under `dir`: by extension, or extensionless scripts with a #! line (.ci/run). */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const full = path.join(dir, name);
    const st = statSync(full, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      if (!SKIP_DIRS.has(name)) out.push(...sourceFiles(full));
    } else if (st.isFile() && st.size < 4 * 2 ** 20) {
      if (SOURCE_EXT.test(name)) out.push(full);
      else if (!name.includes(".") && readFileSync(full, "utf8").startsWith("#!")) out.push(full);
    }
  }
  return out;
}

/** Variable name -> files (relative) that mention it. */
function namesInSources(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const dir of SOURCE_DIRS) {
    for (const file of sourceFiles(path.join(root, dir))) {
      for (const name of new Set(readFileSync(file, "utf8").match(NAME) ?? [])) {
        found.set(name, [...(found.get(name) ?? []), path.relative(root, file)]);
      }
    }
  }
  return found;
}

/** The names in the first column of docs/environment.md's table. */
function namesInTable(): string[] {
  const doc = readFileSync(path.join(root, "docs", "environment.md"), "utf8");
  return [...doc.matchAll(/^\| `(SGD_STUDIO_[A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string);
}

describe("docs/environment.md", () => {
  const sources = namesInSources();
  const table = namesInTable();

  it("finds the variables it knows about (the search works)", () => {
    expect(sources.get("SGD_STUDIO_HOME")).toContain(path.join("core", "store", "paths.ts"));
    expect(sources.get("SGD_STUDIO_FUSED_UPDATE")).toContain(
      path.join("core", "engine", "kernels", "fused-update.ts"),
    );
    expect(table.length).toBeGreaterThanOrEqual(10);
    expect(new Set(table).size).toBe(table.length);
  });

  it("lists every SGD_STUDIO_* variable the sources mention", () => {
    const missing = [...sources.keys()]
      .filter((name) => !table.includes(name))
      .map((name) => `${name} (in ${sources.get(name)?.join(", ")})`);
    expect(missing, "add these to the table in docs/environment.md").toEqual([]);
  });

  it("lists no variable the sources no longer mention", () => {
    const stale = table.filter((name) => !sources.has(name));
    expect(stale, "remove these from docs/environment.md, or read them again").toEqual([]);
  });
});
