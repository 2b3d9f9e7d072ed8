/**
 * The GPU measurement script (bench/gpu/run.sh) on this machine's CPU
 * (QUICK=1: small sizes, WebGPU on lavapipe), from a bundle laid out by
 * bench/gpu/pack.mjs outside the repository: it proves that the compiled
 * benchmarks load with only the bundle's node binary and trimmed
 * node_modules, as on the device machine, and print what RESULTS.md needs.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { probeBackends } from "../core/engine/backends.js";

const root = path.resolve(import.meta.dirname, "..");
const work = mkdtempSync(path.join(tmpdir(), "sgd-gpu-bundle-"));
const bundle = path.join(work, "bundle");
const out = path.join(work, "out");

/** The JSON line a benchmark printed last in $OUT/NAME.txt. */
function lastJson(name: string): Record<string, unknown> {
  const lines = readFileSync(path.join(out, `${name}.txt`), "utf8")
    .trim()
    .split("\n");
  const json = lines.reverse().find((l) => l.startsWith("{"));
  if (!json) throw new Error(`${name}.txt has no JSON line:\n${lines.join("\n")}`);
  return JSON.parse(json) as Record<string, unknown>;
}

describe("bench/gpu: the device script, run from its bundle on the CPU", async () => {
  const [probe] = await probeBackends({ only: ["webgpu"] });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.skipIf(!probe?.available && !process.env.CI)(
    "packs, then measures img/s and the kernel profile with the bundle alone",
    () => {
      execFileSync(process.execPath, ["bench/gpu/pack.mjs", "--stage-only", bundle], {
        cwd: root,
        stdio: "pipe",
      });
      const log = execFileSync("bash", ["bench/gpu/run.sh"], {
        cwd: root,
        encoding: "utf8",
        // No repository node_modules on the way: the bundle lives in a temp dir.
        env: {
          PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
          HOME: work,
          QUICK: "1",
          PREPACKED: "1",
          BUNDLE_DIR: bundle,
          OUT: out,
        },
        timeout: 420_000, // the torch engine step (QUICK: mlp on CPU) included
      });
      expect(log).toContain("== done");

      const speed = lastJson("speed") as {
        ok: boolean;
        rows: { engine: string; model: string; imgPerSec: number }[];
        ratios: unknown[];
      };
      expect(speed.ok).toBe(true);
      for (const model of ["mlp", "cnn"]) {
        const tfjs = speed.rows.find((r) => r.engine === "tfjs" && r.model === model);
        const torch = speed.rows.find((r) => r.engine === "torch" && r.model === model);
        expect(tfjs?.imgPerSec).toBeGreaterThan(0);
        expect(torch?.imgPerSec).toBeGreaterThan(0);
      }

      // The torch engine through the bundle's training worker, beside the bare loop.
      const engine = lastJson("engine") as {
        ok: boolean;
        rows: { engine: string; model: string; imgPerSec: number }[];
        engineRatios: { model: string; ratio: number }[];
      };
      expect(engine.ok).toBe(true);
      expect(engine.rows.find((r) => r.engine === "torch engine")?.imgPerSec).toBeGreaterThan(0);
      expect(engine.engineRatios[0]?.ratio).toBeGreaterThan(0);

      type Profile = {
        kernels: number;
        kernelMs: number;
        byKernel: { name: string; calls: number }[];
      };
      // One profile per thread count measured (one here).
      const { profiles } = lastJson("profile") as { profiles: Profile[] };
      expect(profiles).toHaveLength(1);
      const profile = profiles[0] as Profile;
      expect(profile.kernels).toBeGreaterThan(50);
      expect(profile.kernelMs).toBeGreaterThan(0);
      // The project's kernels are in the bundle and in use.
      const names = profile.byKernel.map((k) => k.name);
      expect(names).toContain("Conv2DBackpropFilter");
      expect(JSON.stringify(profile.byKernel)).toContain("SgdStudioMoments");

      for (const ab of [
        "ab-no-fused-bn",
        "ab-filter-split-1",
        "ab-submit-64",
        "ab-conv-transpose-mm",
      ]) {
        const r = lastJson(ab) as { ok: boolean; rows: { imgPerSec: number }[] };
        expect(r.ok).toBe(true);
        expect(r.rows[0]?.imgPerSec).toBeGreaterThan(0);
      }
    },
    520_000,
  );
});
