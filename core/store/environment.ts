/** What a run was trained on, recorded with it (the backend is added when training starts). */
import { existsSync, readFileSync } from "node:fs";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Environment } from "../api/records.js";

/** The plain type is declared in core/api/records.ts. */
export type { Environment };

let version: string | null | undefined;

/** This package's version, from the nearest package.json named sgd-studio (sources or dist/). */
export function appVersion(): string | null {
  if (version !== undefined) return version;
  version = null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
        if (pkg.name === "sgd-studio") {
          version = pkg.version ?? null;
          break;
        }
      } catch {}
    }
    dir = dirname(dir);
  }
  return version;
}

export function collectEnvironment(): Environment {
  const cpu = cpus();
  return {
    app: "sgd-studio",
    appVersion: appVersion(),
    node: process.versions.node,
    platform: platform(),
    osRelease: release(),
    arch: arch(),
    cpu: cpu[0]?.model.trim() ?? null,
    cpuCount: cpu.length,
    memoryBytes: totalmem(),
  };
}
