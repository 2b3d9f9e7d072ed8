/**
 * Finding a Python that imports torch, in one place (the torch engine, the
 * backend ladder's probe, `doctor`, the tests and the benchmarks all use it).
 *
 * Candidates, first that works wins: $SGD_STUDIO_PYTHON (the `pythonPath`
 * setting reaches workers through it, as wasmThreads does; a variable the
 * user set wins), then `python3` and `python` on PATH, then the usual
 * system interpreters (/usr/bin/python3: Debian's python3-torch). A PATH
 * `python3` is often a pyenv or venv shim without torch: it is tried, and
 * reported as tried, but does not stop the search.
 */
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { nodeSystem, type SystemAccess } from "../system.js";

import { PYTHON_SETTING_ENV } from "./python-setting.js";

/** The variable naming the Python of the torch engine (docs/environment.md). */
export const PYTHON_ENV = PYTHON_SETTING_ENV;

/** Where a Python with torch usually is, after PATH. */
const SYSTEM_PYTHONS = ["/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3"];

/** What `python -m sgd_studio_torch --probe` reports (python/sgd_studio_torch/probe.py). */
export interface TorchProbe {
  ok: boolean;
  python: string;
  pythonVersion?: string;
  torch?: string;
  numpy?: string;
  hip?: string | null;
  cudaVersion?: string | null;
  cuda?: { index: number; name: string; memory: number; capability: string }[];
  mps?: boolean;
  threads?: number;
  /** torch.compile exists (torch >= 2.0). */
  compile?: boolean;
  error?: string;
}

export interface PythonDiscovery {
  /** The interpreter that imports torch, or null. */
  found: TorchProbe | null;
  /** Every candidate tried, with why it was passed over. */
  tried: { python: string; error: string }[];
  /** What to do when none was found. */
  fix: string;
}

export const TORCH_FIX = `install PyTorch for a Python 3 (Debian/Ubuntu: apt-get install python3-torch; elsewhere: pip install torch numpy), or point ${PYTHON_ENV} (or the pythonPath setting) at a Python that imports torch`;

/**
 * The folder holding the sgd_studio_torch package: resources/python in the packaged app
 * (electron-builder's extra resources: the user's Python cannot read inside app.asar), else the
 * repository's python/ above this file.
 */
export function torchPackageRoot(
  from: string = import.meta.url,
  resources: string | undefined = (process as { resourcesPath?: string }).resourcesPath,
): string {
  if (resources) {
    const packaged = path.join(resources, "python");
    if (existsSync(path.join(packaged, "sgd_studio_torch", "__init__.py"))) return packaged;
  }
  let dir = path.dirname(fileURLToPath(from));
  for (;;) {
    const candidate = path.join(dir, "python");
    if (existsSync(path.join(candidate, "sgd_studio_torch", "__init__.py"))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) {
      throw new Error(
        "the torch engine's Python package (python/sgd_studio_torch) is missing from this installation",
      );
    }
    dir = up;
  }
}

/** Environment for running the package: PYTHONPATH gains its folder; no user site noise. */
export function torchEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const root = torchPackageRoot();
  const rest = env.PYTHONPATH ? `${path.delimiter}${env.PYTHONPATH}` : "";
  return {
    ...env,
    PYTHONPATH: `${root}${rest}`,
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
  };
}

/**
 * glibc malloc settings of the training process. By default glibc serves
 * large blocks (a conv net's activations and gradients: megabytes each) with
 * fresh mmaps and gives freed heap back to the system, so every step faults
 * its memory in again, zeroed by the kernel: on cnn (batch 128, CPU) that
 * was ~12,000 page faults and ~60% of the step's CPU time. Blocks up to
 * 32 MiB (glibc's largest mmap threshold) now come from the heap, and freed
 * heap is kept for the next step: the process stays at its peak memory
 * instead. Values only, never numerics. Other C libraries ignore these.
 */
export const TRAINING_MALLOC_ENV = {
  MALLOC_MMAP_THRESHOLD_: String(32 * 2 ** 20),
  MALLOC_TRIM_THRESHOLD_: String(2 ** 40),
} as const;

/**
 * torchEnv plus TRAINING_MALLOC_ENV for the training process, unless the
 * user tunes malloc already (any MALLOC_* variable, or GLIBC_TUNABLES): theirs wins.
 */
export function trainingEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const own = Object.keys(env).some((k) => k === "GLIBC_TUNABLES" || k.startsWith("MALLOC_"));
  return { ...torchEnv(env), ...(own ? {} : TRAINING_MALLOC_ENV) };
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  return null;
}

/** Candidates in the order they are tried (duplicates removed). */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const fromEnv = env[PYTHON_ENV]?.trim();
  if (fromEnv) out.push(fromEnv);
  for (const name of ["python3", "python"]) {
    const p = onPath(name, env);
    if (p) out.push(p);
  }
  out.push(...SYSTEM_PYTHONS.filter((p) => existsSync(p)));
  return [...new Set(out)];
}

/** Runs the probe with one interpreter. */
export async function probePython(
  python: string,
  sys: SystemAccess = nodeSystem,
): Promise<TorchProbe> {
  const r = await sys.run(python, ["-m", "sgd_studio_torch", "--probe"], {
    env: torchEnv(sys.env),
    timeoutMs: 120_000,
  });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  try {
    const parsed = JSON.parse(last) as TorchProbe;
    return { ...parsed, python };
  } catch {
    const why =
      r.error ??
      (r.stderr.trim().split("\n").pop() || `exited with code ${r.code} and printed nothing`);
    return { ok: false, python, error: why };
  }
}

const cache = new Map<string, Promise<PythonDiscovery>>();

/**
 * The first candidate that imports torch (cached per process and per value
 * of SGD_STUDIO_PYTHON and PATH: a probe imports torch, about a second).
 */
export function findTorchPython(sys: SystemAccess = nodeSystem): Promise<PythonDiscovery> {
  const key = `${sys.env[PYTHON_ENV] ?? ""}\0${sys.env.PATH ?? ""}`;
  const hit = sys === nodeSystem ? cache.get(key) : undefined;
  if (hit) return hit;
  const work = (async (): Promise<PythonDiscovery> => {
    const tried: PythonDiscovery["tried"] = [];
    const seen = new Set<string>();
    for (const python of pythonCandidates(sys.env)) {
      let real = python;
      try {
        real = realpathSync(python);
      } catch {
        // A bare name or a missing file: the probe says why.
      }
      // A shim resolves to a script, not to the interpreter: probe it anyway, once.
      if (seen.has(real)) continue;
      seen.add(real);
      const probe = await probePython(python, sys);
      if (probe.ok) return { found: probe, tried, fix: TORCH_FIX };
      tried.push({ python, error: probe.error ?? "no torch" });
    }
    return { found: null, tried, fix: TORCH_FIX };
  })();
  if (sys === nodeSystem) cache.set(key, work);
  return work;
}

/**
 * One line on what was found: "torch 2.3.1, Python 3.11.2 at /usr/bin/python3, CUDA: NVIDIA H100"
 * (commas only: the Run view shows a backend summary up to its first semicolon).
 */
export function describeTorch(p: TorchProbe): string {
  const devices = [
    ...(p.cuda ?? []).map((d) => `${p.hip ? "ROCm" : "CUDA"}: ${d.name}`),
    ...(p.mps ? ["MPS"] : []),
  ];
  return `torch ${p.torch}, Python ${p.pythonVersion} at ${p.python}, ${devices.length ? devices.join(", ") : "CPU only"}`;
}
