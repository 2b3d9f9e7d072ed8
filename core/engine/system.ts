/**
 * System facts for the backend probes: running commands, resolving packages,
 * and parsing what NVIDIA's tools, the dynamic loader and TensorFlow print.
 *
 * Everything that touches the machine goes through `SystemAccess`, so tests
 * can replace it with canned outputs.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

export interface CommandResult {
  /** Exit code; null when the command could not be started or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why it did not run (e.g. "ENOENT"), when it did not. */
  error?: string;
}

export interface SystemAccess {
  /** Absolute path of a package's entry point, or null if not installed. */
  resolve(specifier: string): string | null;
  /** Runs a command; never throws. */
  run(
    command: string,
    args: string[],
    options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number },
  ): Promise<CommandResult>;
  exists(file: string): boolean;
  /** Directory entries, or [] when the directory cannot be read. */
  list(dir: string): string[];
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
}

const requireFromHere = createRequire(import.meta.url);

export const nodeSystem: SystemAccess = {
  resolve(specifier) {
    try {
      return requireFromHere.resolve(specifier);
    } catch {
      return null;
    }
  },
  run(command, args, options = {}) {
    return new Promise((resolve) => {
      execFile(
        command,
        args,
        {
          env: options.env ?? process.env,
          timeout: options.timeoutMs ?? 30_000,
          maxBuffer: 16 * 1024 * 1024,
          encoding: "utf8",
        },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const e = error as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
          const code = typeof e.code === "number" ? e.code : null;
          const why =
            typeof e.code === "string" ? e.code : e.killed ? "timed out" : (e.message ?? "failed");
          resolve({ code, stdout: stdout ?? "", stderr: stderr ?? "", error: why });
        },
      );
    });
  },
  exists: (file) => existsSync(file),
  list(dir) {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  env: process.env,
  platform: process.platform,
};

/**
 * A machine with nothing on it (no packages, commands, files), with parts
 * replaced by `over`: for tests and dry runs of the probes.
 */
export function emptySystem(over: Partial<SystemAccess> = {}): SystemAccess {
  return {
    resolve: () => null,
    run: async () => ({ code: null, stdout: "", stderr: "", error: "ENOENT" }),
    exists: () => false,
    list: () => [],
    env: {},
    platform: "linux",
    ...over,
  };
}

/* ------------------------------------------------------------------ CUDA */

/**
 * What @tensorflow/tfjs-node-gpu 4.22.0 needs. Its scripts/deps-constants.js
 * pins LIBTENSORFLOW_VERSION = '2.9.1'; TensorFlow 2.9's GPU build is made
 * against CUDA 11.2 and cuDNN 8.1 (tfjs-node README: "CUDA Toolkit 11.2,
 * cuDNN SDK 8.1.0"), and TensorFlow loads these sonames at run time.
 */
export const TFJS_NODE_GPU_REQUIREMENTS = {
  packageVersion: "4.22.0",
  libtensorflow: "2.9.1",
  cuda: "11.2",
  cudnn: "8.1",
  /** Oldest driver that runs CUDA 11.x (minor-version compatibility). */
  minDriver: "450.80.02",
  libraries: [
    "libcudart.so.11.0",
    "libcublas.so.11",
    "libcublasLt.so.11",
    "libcufft.so.10",
    "libcurand.so.10",
    "libcusolver.so.11",
    "libcusparse.so.11",
    "libcudnn.so.8",
  ],
} as const;

export interface NvidiaGpu {
  name: string;
  driverVersion: string;
  memoryMiB?: number;
  computeCapability?: string;
}

export interface NvidiaInfo {
  /** nvidia-smi ran and listed the GPUs. */
  present: boolean;
  gpus: NvidiaGpu[];
  /** Highest CUDA version the driver supports ("CUDA Version" in nvidia-smi). */
  driverCudaVersion?: string;
  /** Why there is no information (nvidia-smi missing or failing). */
  error?: string;
}

/** Parses `nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader,nounits`. */
export function parseNvidiaSmiQuery(csv: string): NvidiaGpu[] {
  const gpus: NvidiaGpu[] = [];
  for (const line of csv.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const [name, driver, memory, cap] = line.split(",").map((s) => s.trim());
    if (!name || !driver) continue;
    const gpu: NvidiaGpu = { name, driverVersion: driver };
    const mem = Number.parseFloat(memory ?? "");
    if (Number.isFinite(mem)) gpu.memoryMiB = mem;
    if (cap && /^\d+\.\d+$/.test(cap)) gpu.computeCapability = cap;
    gpus.push(gpu);
  }
  return gpus;
}

/** The "CUDA Version: 12.4" of plain `nvidia-smi` output. */
export function parseNvidiaSmiCudaVersion(text: string): string | undefined {
  return /CUDA Version:\s*([\d.]+)/.exec(text)?.[1];
}

export async function queryNvidia(sys: SystemAccess): Promise<NvidiaInfo> {
  const q = await sys.run("nvidia-smi", [
    "--query-gpu=name,driver_version,memory.total,compute_cap",
    "--format=csv,noheader,nounits",
  ]);
  let gpus: NvidiaGpu[] = [];
  if (q.code === 0) {
    gpus = parseNvidiaSmiQuery(q.stdout);
  } else if (q.error === "ENOENT") {
    return { present: false, gpus: [], error: "nvidia-smi not found (no NVIDIA driver installed)" };
  } else {
    // Older drivers do not know compute_cap.
    const q2 = await sys.run("nvidia-smi", [
      "--query-gpu=name,driver_version,memory.total",
      "--format=csv,noheader,nounits",
    ]);
    if (q2.code !== 0) {
      const msg = (q2.stdout + q2.stderr).trim().split("\n")[0] ?? q2.error ?? "failed";
      return { present: false, gpus: [], error: `nvidia-smi failed: ${msg}` };
    }
    gpus = parseNvidiaSmiQuery(q2.stdout);
  }
  const plain = await sys.run("nvidia-smi", []);
  const info: NvidiaInfo = { present: gpus.length > 0, gpus };
  const cuda = parseNvidiaSmiCudaVersion(plain.stdout);
  if (cuda) info.driverCudaVersion = cuda;
  if (gpus.length === 0) info.error = "nvidia-smi listed no GPUs";
  return info;
}

/** Compares dotted versions: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split(".").map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/* ------------------------------------------------------- shared libraries */

/** soname -> paths, from `ldconfig -p`. */
export function parseLdconfig(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(\S+)\s+\(.*\)\s+=>\s+(\S+)\s*$/.exec(line);
    if (!m?.[1] || !m[2]) continue;
    const list = out.get(m[1]) ?? [];
    list.push(m[2]);
    out.set(m[1], list);
  }
  return out;
}

export interface LibraryScan {
  found: Record<string, string>;
  missing: string[];
}

/** Looks for sonames in LD_LIBRARY_PATH, then the ldconfig cache. */
export async function findLibraries(
  sys: SystemAccess,
  names: readonly string[],
): Promise<LibraryScan> {
  const dirs = (sys.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean);
  let cache = new Map<string, string[]>();
  const ld = await sys.run("ldconfig", ["-p"]);
  if (ld.code === 0) cache = parseLdconfig(ld.stdout);
  else {
    const sbin = await sys.run("/sbin/ldconfig", ["-p"]);
    if (sbin.code === 0) cache = parseLdconfig(sbin.stdout);
  }
  const scan: LibraryScan = { found: {}, missing: [] };
  for (const name of names) {
    const inDir = dirs.map((d) => path.join(d, name)).find((f) => sys.exists(f));
    const hit = inDir ?? cache.get(name)?.[0];
    if (hit) scan.found[name] = hit;
    else scan.missing.push(name);
  }
  return scan;
}

/**
 * The library a failed dlopen/require named, e.g. "libtensorflow.so.2" from
 * "libtensorflow.so.2: cannot open shared object file: No such file or directory".
 */
export function missingLibraryFromError(message: string): string | undefined {
  return (
    /([\w.+-]+\.so(?:\.[\w.]+)?): cannot open shared object file/.exec(message)?.[1] ??
    /Library not loaded: .*?([\w.+-]+\.dylib)/.exec(message)?.[1] ??
    /([\w.+-]+\.dll)\b.*(?:not found|could not be found)/i.exec(message)?.[1]
  );
}

export interface TensorFlowLog {
  /** Libraries TensorFlow tried to dlopen and could not, with the reason. */
  missingLibraries: { name: string; error: string }[];
  /** GPUs TensorFlow created devices for. */
  gpuDevices: { index: number; name: string; memoryMB?: number; computeCapability?: string }[];
  /** TensorFlow said it would skip the GPU. */
  skippedGpu: boolean;
}

/** Parses libtensorflow's stderr (TF_CPP_MIN_LOG_LEVEL=0). */
export function parseTensorFlowLog(stderr: string): TensorFlowLog {
  const log: TensorFlowLog = { missingLibraries: [], gpuDevices: [], skippedGpu: false };
  const seen = new Set<string>();
  for (const m of stderr.matchAll(
    /Could not load dynamic library '([^']+)'; dlerror: ([^;\n]*)/g,
  )) {
    const name = m[1] as string;
    if (seen.has(name)) continue;
    seen.add(name);
    log.missingLibraries.push({ name, error: (m[2] ?? "").trim() });
  }
  for (const m of stderr.matchAll(
    /Created (?:TensorFlow )?device \(?\S*GPU:(\d+) with (\d+) MB memory\)?:?\s*->\s*(?:physical GPU \()?device: \d+, name: ([^,]+)(?:, pci bus id: [^,]+)?(?:, compute capability: ([\d.]+))?/g,
  )) {
    const dev: TensorFlowLog["gpuDevices"][number] = {
      index: Number(m[1]),
      name: (m[3] as string).trim(),
      memoryMB: Number(m[2]),
    };
    if (m[4]) dev.computeCapability = m[4];
    log.gpuDevices.push(dev);
  }
  log.skippedGpu = /Skipping registering GPU devices/.test(stderr);
  return log;
}

/* ---------------------------------------------------------------- Vulkan */

/** Vulkan ICD manifests the loader would consider. */
export function listVulkanIcds(sys: SystemAccess): string[] {
  const explicit = sys.env.VK_DRIVER_FILES ?? sys.env.VK_ICD_FILENAMES;
  if (explicit) return explicit.split(":").filter(Boolean);
  const dirs = [
    ...(sys.env.XDG_DATA_DIRS ?? "/usr/local/share:/usr/share")
      .split(":")
      .filter(Boolean)
      .map((d) => path.join(d, "vulkan/icd.d")),
    "/etc/vulkan/icd.d",
  ];
  const files: string[] = [];
  for (const d of new Set(dirs)) {
    for (const f of sys.list(d)) if (f.endsWith(".json")) files.push(path.join(d, f));
  }
  return files;
}
