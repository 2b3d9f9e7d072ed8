/**
 * bench/speed.bench.ts and bench/torch_speed.py: the PyTorch models have
 * exactly our parameter counts (otherwise the speed ratio compares different
 * networks), and a tiny run of the script produces consistent figures.
 * PyTorch is required (CI installs python3-torch): without it the tests that
 * need it skip with a message, except under CI, where they fail.
 */
import { execFile, execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { createModel, modelParamCount } from "../core/models/index.js";

const execFileP = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const torchScript = path.join(root, "bench", "torch_speed.py");

/** The interpreter the bench would use: python3, else Debian's /usr/bin/python3 (python3-torch). */
function findTorchPython(): { python?: string; tried: string[] } {
  const tried: string[] = [];
  const candidates = [process.env.TORCH_PYTHON, "python3", "/usr/bin/python3"];
  for (const py of candidates) {
    if (!py || tried.some((t) => t.startsWith(`${py}:`))) continue;
    try {
      execFileSync(py, ["-c", "import torch"], { stdio: "pipe", timeout: 60_000 });
      return { python: py, tried };
    } catch (e) {
      const stderr = String((e as { stderr?: Buffer }).stderr ?? "").trim();
      tried.push(`${py}: ${stderr.split("\n").pop() || (e as Error).message}`);
    }
  }
  return { tried };
}

/** Skip without PyTorch, except under CI (which installs it): there, fail. */
const torchFound = findTorchPython();
if (!torchFound.python) {
  const msg = `no PyTorch for the speed bench tests (Debian: python3-torch; or set TORCH_PYTHON). Tried: ${torchFound.tried.join("; ")}`;
  if (!process.env.CI) console.warn(`skipping: ${msg}`);
}
const withTorch = it.skipIf(!torchFound.python && !process.env.CI);

function requireTorch(): string {
  const { python, tried } = findTorchPython();
  if (!python) {
    throw new Error(
      `PyTorch is required for the speed bench tests (CI installs python3-torch; or set TORCH_PYTHON). Tried: ${tried.join("; ")}`,
    );
  }
  return python;
}

interface Row {
  engine: "tfjs" | "torch";
  backend: string;
  model: string;
  deviceClass: "cpu" | "gpu";
  imgPerSec: number;
  msPerStep: number;
  steps: number;
  batch: number;
  threads?: number;
  phases?: Record<string, number>;
}
interface Report {
  ok: boolean;
  date: string;
  host: { hostname: string; cores: number };
  rows: Row[];
  ratios: {
    model: string;
    deviceClass: string;
    torch: string;
    torchImgPerSec: number;
    tfjs?: string;
    tfjsImgPerSec?: number;
    ratio?: number;
  }[];
  skipped: { engine: string; backend: string; model?: string; reason: string; failure: boolean }[];
  torch: { torch: string; runs: { device: string; step: string }[] } | null;
  scaling: { model: string; threads: number; speedup: number; parallelFraction: number }[];
  equalThreads: { model: string; threads: number; ratio: number }[];
  engineRatios: {
    model: string;
    backend: string;
    bare: string;
    ratio: number;
    pairedRatios: number[];
    pairedRatio: number;
    cpuRatio?: number;
  }[];
}

async function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(
      process.execPath,
      ["--import", "tsx", "bench/speed.bench.ts", ...args],
      { cwd: root, maxBuffer: 16 * 2 ** 20, timeout: 90_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}

function lastJson(stdout: string): Report {
  const last = stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as Report;
}

describe("PyTorch reference models", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  withTorch(
    "have exactly the parameter counts of our models",
    async () => {
      const python = requireTorch();
      const { stdout } = await execFileP(python, [torchScript, "--count-params"], {
        timeout: 60_000,
      });
      const counts = JSON.parse(stdout) as Record<string, number>;
      const published: Record<string, number> = {
        mlp: 235_146,
        cnn: 421_738,
        resnet18: 11_173_962,
      };
      expect(Object.keys(counts).sort()).toEqual(Object.keys(published).sort());
      for (const [name, expected] of Object.entries(published)) {
        const model = createModel(name, { numClasses: 10, seed: 0 });
        // Trainable only: PyTorch's parameters() leaves BN running statistics out (buffers).
        const ours = modelParamCount(model).trainable;
        model.dispose();
        expect(ours, name).toBe(expected);
        expect(counts[name], `torch ${name}`).toBe(ours);
      }
    },
    60_000,
  );
});

describe("bench/speed.bench.ts", () => {
  withTorch(
    "measures mlp on cpu and wasm and torch cpu, with a consistent ratio",
    async () => {
      const python = requireTorch();
      const args = ["--models", "mlp", "--backends", "cpu,wasm", "--steps", "2", "--warmup", "1"];
      const r = await runBench([
        ...args,
        "--batch",
        "16",
        "--torch",
        "cpu",
        "--python",
        python,
        "--json",
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/PyTorch \/ best tfjs backend/);
      const report = lastJson(r.stdout);
      expect(report.ok).toBe(true);
      expect(Number.isNaN(Date.parse(report.date))).toBe(false);
      expect(report.host.cores).toBeGreaterThan(0);

      for (const backend of ["cpu", "wasm"]) {
        const row = report.rows.find((q) => q.engine === "tfjs" && q.backend === backend);
        expect(row, `tfjs ${backend} row`).toBeDefined();
        if (!row) continue;
        expect(row.model).toBe("mlp");
        expect(row.deviceClass).toBe("cpu");
        expect(row.steps).toBe(2);
        expect(Number.isFinite(row.imgPerSec) && row.imgPerSec > 0).toBe(true);
        expect(row.imgPerSec).toBeCloseTo((1000 * 16) / row.msPerStep, 6);
      }
      const torchRow = report.rows.find((q) => q.engine === "torch");
      expect(torchRow?.backend).toBe("cpu");
      expect(torchRow?.batch).toBe(16);
      expect(Number.isFinite(torchRow?.imgPerSec) && (torchRow?.imgPerSec ?? 0) > 0).toBe(true);
      expect(report.torch?.runs[0]?.step).toBe("trainStep");

      // The ratio is torch over the faster of the two tfjs CPU backends.
      const tfjs = report.rows.filter((q) => q.engine === "tfjs");
      const best = tfjs.reduce((a, q) => (q.imgPerSec > a.imgPerSec ? q : a));
      expect(report.ratios).toHaveLength(1);
      const ratio = report.ratios[0];
      expect(ratio?.model).toBe("mlp");
      expect(ratio?.deviceClass).toBe("cpu");
      expect(ratio?.tfjs).toBe(best.backend);
      expect(ratio?.tfjsImgPerSec).toBe(best.imgPerSec);
      expect(ratio?.torchImgPerSec).toBe(torchRow?.imgPerSec);
      expect(ratio?.ratio).toBeCloseTo((torchRow?.imgPerSec ?? 0) / best.imgPerSec, 9);

      // The torch engine against the bare loop, plain and with the engine's malloc settings,
      // each paired with the bare run of its round, with the CPU time ratio beside.
      expect(report.engineRatios.map((q) => [q.model, q.backend, q.bare])).toEqual([
        ["mlp", "cpu", "cpu"],
        ["mlp", "cpu", "cpu engine-malloc"],
      ]);
      for (const q of report.engineRatios) {
        expect(q.pairedRatios).toHaveLength(1);
        expect(q.pairedRatio).toBeCloseTo(q.ratio, 9);
        expect(q.cpuRatio).toBeGreaterThan(0);
      }
      const engineRow = report.rows.find((q) => (q.engine as string) === "torch engine");
      expect(Object.keys(engineRow?.phases ?? {}).sort()).toEqual([
        "control",
        "data",
        "report",
        "step",
      ]);
      expect(r.stdout).toMatch(/where a step's wall time goes/);
    },
    90_000,
  );

  it("skips the pure-JS cpu backend on conv nets unless --slow, and says why", async () => {
    const r = await runBench(["--models", "cnn", "--backends", "cpu", "--torch", "off", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const report = lastJson(r.stdout);
    expect(report.rows).toEqual([]);
    expect(report.skipped).toEqual([
      expect.objectContaining({ engine: "tfjs", backend: "cpu", model: "cnn", failure: false }),
    ]);
    expect(r.stdout).toMatch(/tfjs cpu cnn: .*--slow/);
  }, 60_000);

  it("measures wasm at 1 and 2 threads in one run and prints threads per engine", async () => {
    const r = await runBench([
      ...["--models", "mlp", "--backends", "cpu,wasm", "--wasm-threads", "1,2"],
      ...["--steps", "2", "--warmup", "1", "--batch", "16", "--torch", "off", "--json"],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = lastJson(r.stdout);
    const wasm = report.rows.filter((q) => q.backend === "wasm");
    expect(wasm.map((q) => q.threads)).toEqual([1, 2]);
    expect(report.rows.find((q) => q.backend === "cpu")?.threads).toBe(1);
    expect(report.scaling).toHaveLength(1);
    const [s] = report.scaling;
    expect(s?.threads).toBe(2);
    expect(s?.speedup).toBeCloseTo((wasm[1]?.imgPerSec ?? 0) / (wasm[0]?.imgPerSec ?? 1), 9);
    expect(r.stdout).toMatch(/threads: tfjs wasm 1, 2; tfjs cpu 1/);
    expect(r.stdout).toMatch(/mlp +tfjs wasm 2t /);
    expect(r.stdout).toMatch(/wasm threads: img\/s over the 1-thread figure/);
  }, 90_000);

  it("rejects an unknown backend with the list of backends", async () => {
    const r = await runBench(["--backends", "cuda", "--torch", "off"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown backend "cuda".*tensorflow-gpu, webgpu/);
  }, 60_000);
});
