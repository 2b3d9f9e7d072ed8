/**
 * The training-backend ladder: find out which TensorFlow.js backends can run
 * here, pick one, and report on all of them as JSON (`doctorReport`: each
 * rung's reason and fix). `sgd-studio doctor`'s text is cli/doctor-text.ts.
 *
 * Best first:
 *   0. torch           PyTorch in a Python worker (core/engine/torch; not a tfjs backend:
 *                      the training worker hands such runs to TorchTrainer)
 *   1. tensorflow-gpu  @tensorflow/tfjs-node-gpu (libtensorflow + CUDA)
 *   2. webgpu          Dawn (`webgpu` package) + @tensorflow/tfjs-backend-webgpu
 *   3. tensorflow      @tensorflow/tfjs-node (libtensorflow, CPU)
 *   4. wasm            @tensorflow/tfjs-backend-wasm
 *   5. cpu             @tensorflow/tfjs-backend-cpu (pure JS, always there)
 *
 * All backends register into the one tfjs-core (import tf from
 * "@tensorflow/tfjs-core"); the project's kernel overrides are registered by
 * selectBackend after the backend's package is loaded.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { BackendProbe, DoctorJson } from "../api/doctor.js";
import { BACKEND_NAMES, type BackendName } from "../api/lists.js";
import { type KernelOverride, registerKernelOverrides } from "./kernels/index.js";
import {
  compareVersions,
  findLibraries,
  TFJS_NODE_GPU_REQUIREMENTS as GPU_REQ,
  type LibraryScan,
  listVulkanIcds,
  missingLibraryFromError,
  type NvidiaInfo,
  nodeSystem,
  parseTensorFlowLog,
  queryNvidia,
  type SystemAccess,
} from "./system.js";
import { type AppliedFlags, applyTfjsFlags } from "./tfjs-flags.js";
import { describeTorch, findTorchPython } from "./torch/python.js";
import {
  configureWasmThreads,
  cpuTopology,
  resolveWasmThreads,
  TFJS_WASM_MAX_THREADS,
  wasmThreadSupport,
  wasmThreadsState,
} from "./wasm-threads.js";
import { ensureXdgRuntimeDir, getDawnGpu, summarizeAdapter } from "./webgpu-node.js";

/** The ladder (BACKEND_NAMES) and the report's types are declared in core/api (lists.ts, doctor.ts). */
export const BACKEND_LADDER = BACKEND_NAMES;
export type { BackendName, BackendProbe, DoctorJson };

export interface BackendSelection {
  /** The rung in use. */
  name: BackendName;
  /** tf.getBackend() after selection. */
  tfjsBackend: string;
  /** Probes of the rungs considered, best first (auto: down to the chosen one). */
  probes: BackendProbe[];
  /** Rungs that probed fine but failed to initialise. */
  failures: { name: BackendName; error: string }[];
  overrides: KernelOverride[];
  /** tfjs flags set from SGD_STUDIO_TFJS_FLAGS (benchmark A/B runs). */
  flags: AppliedFlags;
  /** One line for the user: "Training backend: wasm (…)". */
  summary: string;
}

export interface ProbeOptions {
  /** Replace the machine (for tests). */
  system?: SystemAccess;
  /** Only these rungs (default: the whole ladder). */
  only?: readonly BackendName[];
  /**
   * Threads of the wasm backend (core/engine/wasm-threads.ts): a number, or
   * "auto"; default SGD_STUDIO_WASM_THREADS, else auto (physical cores less one).
   */
  wasmThreads?: number | "auto";
}

const RUNGS: Record<BackendName, { tfjsName: string; packageName: string }> = {
  torch: { tfjsName: "none", packageName: "python: torch (sgd_studio_torch)" },
  "tensorflow-gpu": { tfjsName: "tensorflow", packageName: "@tensorflow/tfjs-node-gpu" },
  webgpu: { tfjsName: "webgpu", packageName: "@tensorflow/tfjs-backend-webgpu" },
  tensorflow: { tfjsName: "tensorflow", packageName: "@tensorflow/tfjs-node" },
  wasm: { tfjsName: "wasm", packageName: "@tensorflow/tfjs-backend-wasm" },
  cpu: { tfjsName: "cpu", packageName: "@tensorflow/tfjs-backend-cpu" },
};

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_LADDER as readonly string[]).includes(name);
}

function firstLine(text: string, max = 300): string {
  const line =
    text
      .split("\n")
      .map((l) => l.trim())
      .find(Boolean) ?? "";
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/* ------------------------------------------------------ tfjs-node probes */

interface ChildProbe {
  ok: boolean;
  error?: string;
  backend?: string;
  stderr: string;
}

/**
 * Loads a tfjs-node package in a child process: a broken libtensorflow or
 * CUDA setup can abort the process, and TensorFlow reports missing CUDA
 * libraries only on stderr.
 */
async function childProbe(sys: SystemAccess, entry: string): Promise<ChildProbe> {
  const script = `
try {
  const m = await import(${JSON.stringify(pathToFileURL(entry).href)});
  const tf = m.default && m.default.tensor2d ? m.default : m;
  const a = tf.tensor2d([[1, 2], [3, 4]]);
  const v = Array.from(await tf.matMul(a, a).data());
  const ok = JSON.stringify(v) === "[7,10,15,22]";
  process.stdout.write("\\n" + JSON.stringify({ ok, backend: tf.getBackend(), error: ok ? undefined : "wrong result " + JSON.stringify(v) }));
} catch (e) {
  process.stdout.write("\\n" + JSON.stringify({ ok: false, error: String((e && e.stack) || e) }));
}`;
  const r = await sys.run(process.execPath, ["--input-type=module", "-e", script], {
    // ELECTRON_RUN_AS_NODE: inside Electron, process.execPath is Electron itself.
    env: { ...sys.env, TF_CPP_MIN_LOG_LEVEL: "0", ELECTRON_RUN_AS_NODE: "1" },
    timeoutMs: 180_000,
  });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  try {
    const parsed = JSON.parse(last) as Omit<ChildProbe, "stderr">;
    return { ...parsed, stderr: r.stderr };
  } catch {
    const why = r.error ?? `exit code ${r.code}`;
    return {
      ok: false,
      error: `probe process failed (${why}): ${firstLine(r.stderr)}`,
      stderr: r.stderr,
    };
  }
}

function describeLoadError(pkg: string, error: string): { reason: string; lib?: string } {
  const lib = missingLibraryFromError(error);
  if (lib) return { reason: `${pkg} is installed but cannot load ${lib}`, lib };
  if (/tfjs_binding\.node/.test(error) && /Cannot find module/.test(error)) {
    return {
      reason: `${pkg} is installed but its native addon (tfjs_binding.node) was never built: its install script did not run or could not download libtensorflow`,
    };
  }
  return { reason: `${pkg} is installed but failed to load: ${firstLine(error)}` };
}

function cudaFix(nvidia: NvidiaInfo, libs: LibraryScan): string {
  const parts: string[] = [];
  if (!nvidia.present) {
    parts.push(
      `No NVIDIA GPU found (${nvidia.error ?? "nvidia-smi listed none"}); tensorflow-gpu needs an NVIDIA GPU and driver >= ${GPU_REQ.minDriver}.`,
    );
  } else {
    const names = nvidia.gpus.map((g) => g.name).join(", ");
    const driver = nvidia.gpus[0]?.driverVersion ?? "?";
    parts.push(
      `Found ${names} (driver ${driver}${nvidia.driverCudaVersion ? `, supports CUDA up to ${nvidia.driverCudaVersion}` : ""}).`,
    );
    if (compareVersions(driver, GPU_REQ.minDriver) < 0) {
      parts.push(`Update the NVIDIA driver to >= ${GPU_REQ.minDriver}.`);
    }
    const cap = nvidia.gpus[0]?.computeCapability;
    if (cap && compareVersions(cap, "9.0") >= 0) {
      parts.push(
        `This GPU (compute capability ${cap}) is newer than CUDA 11.2's native targets: TensorFlow JIT-compiles its kernels on first use, so the first start is slow.`,
      );
    }
  }
  parts.push(
    `tfjs-node-gpu ${GPU_REQ.packageVersion} uses libtensorflow ${GPU_REQ.libtensorflow}, built for CUDA ${GPU_REQ.cuda} and cuDNN ${GPU_REQ.cudnn}: install the CUDA ${GPU_REQ.cuda} runtime libraries and cuDNN ${GPU_REQ.cudnn} for CUDA 11.x and put their directories on LD_LIBRARY_PATH (CUDA 12 libraries have other sonames and do not work).`,
  );
  if (libs.missing.length > 0) parts.push(`Missing now: ${libs.missing.join(", ")}.`);
  return parts.join(" ");
}

async function probeTensorflow(
  name: "tensorflow" | "tensorflow-gpu",
  sys: SystemAccess,
): Promise<BackendProbe> {
  const { tfjsName, packageName } = RUNGS[name];
  const gpu = name === "tensorflow-gpu";
  const probe: BackendProbe = {
    name,
    tfjsName,
    packageName,
    available: false,
    autoSelect: false,
    details: {},
  };
  let nvidia: NvidiaInfo | undefined;
  let libs: LibraryScan | undefined;
  if (gpu) {
    nvidia = await queryNvidia(sys);
    libs = await findLibraries(sys, GPU_REQ.libraries);
    probe.details.nvidia = nvidia;
    probe.details.cudaLibraries = libs;
    probe.details.requires = {
      cuda: GPU_REQ.cuda,
      cudnn: GPU_REQ.cudnn,
      libtensorflow: GPU_REQ.libtensorflow,
      minDriver: GPU_REQ.minDriver,
    };
  }
  const entry = sys.resolve(packageName);
  if (!entry) {
    probe.reason = `${packageName} is not installed`;
    const install = `npm install ${packageName}@${GPU_REQ.packageVersion} (its install script downloads libtensorflow ${GPU_REQ.libtensorflow} from storage.googleapis.com; package.json allowScripts must list it).`;
    probe.fix =
      gpu && nvidia && libs
        ? `${install} ${cudaFix(nvidia, libs)}`
        : `${install} Needs no GPU; a faster CPU engine than wasm for big models.`;
    return probe;
  }
  probe.details.entry = entry;
  if (otherTensorflowLoaded(name)) {
    probe.reason = `${RUNGS[otherTensorflow(name)].packageName} is already loaded in this process; both register the "tensorflow" backend`;
    probe.fix = "Choose one of tensorflow / tensorflow-gpu per process.";
    return probe;
  }
  const child = await childProbe(sys, entry);
  const log = parseTensorFlowLog(child.stderr);
  if (log.missingLibraries.length) probe.details.tensorflowMissingLibraries = log.missingLibraries;
  if (!child.ok) {
    const d = describeLoadError(packageName, child.error ?? "unknown error");
    probe.reason = d.reason;
    probe.details.error = firstLine(child.error ?? "", 2000);
    const libHint = d.lib
      ? `Install the library that provides ${d.lib} or add its directory to LD_LIBRARY_PATH. `
      : "";
    probe.fix =
      libHint +
      (gpu && nvidia && libs
        ? cudaFix(nvidia, libs)
        : `Reinstall ${packageName} where it can download libtensorflow ${GPU_REQ.libtensorflow} (npm rebuild ${packageName}).`);
    return probe;
  }
  if (!gpu) {
    probe.available = true;
    probe.autoSelect = true;
    return probe;
  }
  probe.details.gpuDevices = log.gpuDevices;
  if (log.gpuDevices.length === 0) {
    const missing = log.missingLibraries.map((l) => l.name);
    probe.reason =
      "tfjs-node-gpu loads, but TensorFlow created no GPU device (it would silently run on the CPU)" +
      (missing.length ? `: cannot load ${missing.join(", ")}` : "");
    probe.fix = cudaFix(nvidia as NvidiaInfo, libs as LibraryScan);
    return probe;
  }
  probe.available = true;
  probe.autoSelect = true;
  return probe;
}

/* --------------------------------------------------------- other probes */

async function probeWebgpu(sys: SystemAccess): Promise<BackendProbe> {
  const { tfjsName, packageName } = RUNGS.webgpu;
  const probe: BackendProbe = {
    name: "webgpu",
    tfjsName,
    packageName,
    available: false,
    autoSelect: false,
    details: {},
  };
  for (const pkg of ["webgpu", packageName]) {
    if (!sys.resolve(pkg)) {
      probe.reason = `${pkg} is not installed`;
      probe.fix = "npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0";
      return probe;
    }
  }
  probe.details.xdgRuntimeDir = ensureXdgRuntimeDir(sys.env);
  let gpu: Awaited<ReturnType<typeof getDawnGpu>>;
  try {
    gpu = await getDawnGpu();
  } catch (e) {
    const msg = errorText(e);
    const lib = missingLibraryFromError(msg);
    probe.reason = `cannot load Dawn (the webgpu package)${lib ? `: missing ${lib}` : `: ${firstLine(msg)}`}`;
    probe.fix = "Reinstall the webgpu package for this platform (npm rebuild webgpu).";
    return probe;
  }
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    const icds = listVulkanIcds(sys);
    probe.details.vulkanIcds = icds;
    if (sys.platform === "linux") {
      const vk = await findLibraries(sys, ["libvulkan.so.1"]);
      probe.details.libvulkan = vk.found["libvulkan.so.1"] ?? null;
      const present = icds.filter((f) => sys.exists(f));
      const explicit = sys.env.VK_DRIVER_FILES ? "VK_DRIVER_FILES" : "VK_ICD_FILENAMES";
      const why = vk.missing.length
        ? "libvulkan.so.1 (the Vulkan loader) is not installed"
        : icds.length > 0 &&
            present.length === 0 &&
            (sys.env.VK_DRIVER_FILES || sys.env.VK_ICD_FILENAMES)
          ? `${explicit} names driver manifests that do not exist (${icds.join(", ")})`
          : present.length === 0
            ? "no Vulkan driver (ICD) is installed"
            : `the Vulkan driver(s) present were rejected (${present.map((f) => path.basename(f)).join(", ")}; e.g. Debian 12's Mesa 22 lavapipe is too old for Dawn)`;
      probe.reason = `no WebGPU adapter: Dawn needs a Vulkan driver, and ${why}`;
      probe.fix =
        "NVIDIA GPU: install the driver's Vulkan ICD (nvidia_icd.json, e.g. Debian nvidia-vulkan-icd / Ubuntu libnvidia-gl-<version>). " +
        "CPU only (CI): Mesa lavapipe >= 25 — on Debian 12: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1 (see core/engine/LAVAPIPE.md); set XDG_RUNTIME_DIR.";
    } else {
      probe.reason = "no WebGPU adapter: Dawn found no Metal/D3D12/Vulkan device";
      probe.fix = "Update the GPU driver.";
    }
    return probe;
  }
  const summary = summarizeAdapter(adapter);
  probe.details.adapter = summary;
  probe.available = true;
  probe.autoSelect = !summary.software;
  if (summary.software) {
    probe.reason = `software adapter (${summary.description || summary.device}): correct but slower than wasm, so automatic selection skips it; choose it explicitly (backend "webgpu")`;
  }
  return probe;
}

function wasmDistDir(sys: SystemAccess): string | null {
  const pkgJson = sys.resolve("@tensorflow/tfjs-backend-wasm/package.json");
  return pkgJson ? `${path.dirname(pkgJson)}${path.sep}dist${path.sep}` : null;
}

const WASM_BINARIES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
] as const;

async function probeWasm(sys: SystemAccess): Promise<BackendProbe> {
  const { tfjsName, packageName } = RUNGS.wasm;
  const probe: BackendProbe = {
    name: "wasm",
    tfjsName,
    packageName,
    available: false,
    autoSelect: false,
    details: {},
  };
  const dir = wasmDistDir(sys);
  if (!dir || !sys.resolve(packageName)) {
    probe.reason = `${packageName} is not installed`;
    probe.fix = `npm install ${packageName}@4.22.0`;
    return probe;
  }
  const present = WASM_BINARIES.filter((b) => sys.exists(path.join(dir, b)));
  probe.details.wasmDir = dir;
  probe.details.binaries = present;
  if (!present.includes("tfjs-backend-wasm.wasm")) {
    probe.reason = `the .wasm binaries are missing from ${dir}`;
    probe.fix = `Reinstall ${packageName}.`;
    return probe;
  }
  try {
    await loadRung("wasm", sys);
    const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
    probe.details.simd = simd && present.includes("tfjs-backend-wasm-simd.wasm");
    Object.assign(probe.details, wasmThreadDetails(sys));
  } catch (e) {
    probe.reason = `${packageName} failed to load: ${firstLine(errorText(e))}`;
    probe.fix = `Reinstall ${packageName}.`;
    return probe;
  }
  probe.details.conv2dBackpropFilter = "SGD Studio kernel (core/engine/kernels)";
  probe.available = true;
  probe.autoSelect = true;
  return probe;
}

/**
 * The wasm rung's thread details for doctor: the count a run would use here
 * (`threads`), why (`threadsWhy`), the machine (`cores`), and, when it
 * cannot thread, `threadsNote`. `threadsActive` is the initialised
 * backend's count in this process, when there is one.
 */
function wasmThreadDetails(sys: SystemAccess): Record<string, unknown> {
  const cores = cpuTopology(sys);
  const choice = resolveWasmThreads(undefined, sys.env, cores);
  const support = wasmThreadSupport(sys);
  const state = wasmThreadsState();
  const notes = [choice.note, support.ok ? undefined : `one thread: ${support.reason}`, state.note];
  const note = notes.filter(Boolean).join("; ");
  return {
    threads: support.ok ? choice.threads : 1,
    threadsWhy: choice.why,
    threadsMax: TFJS_WASM_MAX_THREADS,
    threadSupport: support.ok,
    cores: { logical: cores.logical, physical: cores.physical, source: cores.source },
    ...(state.active !== null && { threadsActive: state.active }),
    ...(note && { threadsNote: note }),
  };
}

function probeCpu(): BackendProbe {
  return {
    name: "cpu",
    ...RUNGS.cpu,
    available: true,
    autoSelect: true,
    details: { note: "pure JavaScript: fine for MLPs, tens of seconds per step for conv nets" },
  };
}

/** The torch engine: a Python that imports torch (core/engine/torch/python.ts). */
async function probeTorch(sys: SystemAccess): Promise<BackendProbe> {
  const found = await findTorchPython(sys);
  const tried = found.tried.map((t) => ({ python: t.python, error: t.error }));
  if (!found.found) {
    return {
      name: "torch",
      ...RUNGS.torch,
      available: false,
      autoSelect: false,
      reason: `no Python with PyTorch found (tried ${tried.map((t) => t.python).join(", ") || "nothing"})`,
      fix: found.fix,
      details: { tried },
    };
  }
  const p = found.found;
  return {
    name: "torch",
    ...RUNGS.torch,
    available: true,
    autoSelect: true,
    reason: describeTorch(p),
    details: {
      python: p.python,
      pythonVersion: p.pythonVersion,
      torch: p.torch,
      numpy: p.numpy,
      cudaVersion: p.cudaVersion ?? null,
      rocm: p.hip ?? null,
      cudaDevices: p.cuda ?? [],
      mps: p.mps ?? false,
      threads: p.threads,
      compile: p.compile ? "available" : `unavailable (torch ${p.torch}; torch.compile needs 2.0)`,
      tried,
    },
  };
}

async function probeOne(name: BackendName, sys: SystemAccess): Promise<BackendProbe> {
  try {
    switch (name) {
      case "torch":
        return await probeTorch(sys);
      case "tensorflow-gpu":
      case "tensorflow":
        return await probeTensorflow(name, sys);
      case "webgpu":
        return await probeWebgpu(sys);
      case "wasm":
        return await probeWasm(sys);
      case "cpu":
        return probeCpu();
    }
  } catch (e) {
    return {
      name,
      ...RUNGS[name],
      available: false,
      autoSelect: false,
      reason: `probe failed: ${errorText(e)}`,
      details: {},
    };
  }
}

/** Probes every rung (or `only`), best first. Does not change the active backend. */
export async function probeBackends(options: ProbeOptions = {}): Promise<BackendProbe[]> {
  const sys = options.system ?? nodeSystem;
  const names = BACKEND_LADDER.filter((n) => !options.only || options.only.includes(n));
  const out: BackendProbe[] = [];
  for (const n of names) out.push(await probeOne(n, sys));
  return out;
}

/* -------------------------------------------------------------- loading */

const loaded = new Set<BackendName>();
let wasmPathsSet = false;

function otherTensorflow(name: "tensorflow" | "tensorflow-gpu"): "tensorflow" | "tensorflow-gpu" {
  return name === "tensorflow" ? "tensorflow-gpu" : "tensorflow";
}

function otherTensorflowLoaded(name: "tensorflow" | "tensorflow-gpu"): boolean {
  return loaded.has(otherTensorflow(name));
}

/** Imports a rung's package so that its backend is registered in tfjs-core. */
async function loadRung(name: BackendName, sys: SystemAccess): Promise<void> {
  if (loaded.has(name)) return;
  switch (name) {
    case "torch":
      throw new Error(
        'backend "torch" is the PyTorch engine, not a TensorFlow.js backend: the training worker runs it (core/engine/torch)',
      );
    case "cpu":
      break;
    case "wasm": {
      const wasm = await import("@tensorflow/tfjs-backend-wasm");
      const dir = wasmDistDir(sys);
      if (dir && !wasmPathsSet) {
        wasm.setWasmPaths(dir);
        wasmPathsSet = true;
      }
      configureWasmThreads(wasm, resolveWasmThreads(undefined, sys.env).threads);
      break;
    }
    case "webgpu": {
      await getDawnGpu();
      await import("@tensorflow/tfjs-backend-webgpu");
      if (!tf.findBackendFactory("webgpu")) {
        throw new Error(
          "@tensorflow/tfjs-backend-webgpu did not register its backend: it was imported before navigator.gpu was set (import it only through core/engine/backends)",
        );
      }
      break;
    }
    case "tensorflow":
    case "tensorflow-gpu": {
      if (otherTensorflowLoaded(name)) {
        throw new Error(
          `${RUNGS[otherTensorflow(name)].packageName} is already loaded in this process`,
        );
      }
      const entry = sys.resolve(RUNGS[name].packageName);
      if (!entry) throw new Error(`${RUNGS[name].packageName} is not installed`);
      await import(pathToFileURL(entry).href);
      if (!tf.findBackendFactory("tensorflow")) {
        throw new Error(
          `${RUNGS[name].packageName} registered its backend into another copy of tfjs-core (version mismatch with @tensorflow/tfjs-core ${tf.version_core})`,
        );
      }
      break;
    }
  }
  loaded.add(name);
}

async function activate(
  name: BackendName,
  sys: SystemAccess,
  wasmThreads?: number | "auto",
): Promise<void> {
  await loadRung(name, sys);
  if (name === "wasm") {
    const choice = resolveWasmThreads(wasmThreads, sys.env);
    if (choice.warn) console.warn(`wasm threads: ${choice.note}`);
    configureWasmThreads(await import("@tensorflow/tfjs-backend-wasm"), choice.threads);
  }
  const tfjsName = RUNGS[name].tfjsName;
  const ok = await tf.setBackend(tfjsName);
  if (!ok) throw new Error(`tf.setBackend("${tfjsName}") failed to initialise the backend`);
  await tf.ready();
}

export class BackendUnavailableError extends Error {
  constructor(
    message: string,
    readonly probes: BackendProbe[],
  ) {
    super(message);
    this.name = "BackendUnavailableError";
  }
}

/** "2 threads", or "1 thread: <why not more>", for the selection's summary. */
function wasmThreadsSummary(): string | undefined {
  const { active, note } = wasmThreadsState();
  if (active === null) return undefined;
  return `${active} thread${active === 1 ? "" : "s"}${note ? `; ${note}` : ""}`;
}

function summarize(name: BackendName, probes: BackendProbe[]): string {
  const chosen = probes.find((p) => p.name === name);
  const adapter = chosen?.details.adapter as { description?: string } | undefined;
  const gpus = (chosen?.details.gpuDevices as { name: string }[] | undefined)?.map((g) => g.name);
  const what =
    adapter?.description ??
    (gpus?.length ? gpus.join(", ") : name === "wasm" ? wasmThreadsSummary() : undefined);
  const skipped = probes
    .filter((p) => p.name !== name && BACKEND_LADDER.indexOf(p.name) < BACKEND_LADDER.indexOf(name))
    .map((p) => `${p.name}: ${p.reason ?? "failed"}`);
  return `Training backend: ${name}${what ? ` (${what})` : ""}${skipped.length ? `; skipped ${skipped.join("; ")}` : ""}`;
}

/**
 * Activates a backend and registers the project's kernel overrides.
 *
 * With `name`: that rung, or a BackendUnavailableError naming the reason, the
 * fix, and the rungs that are available. Without: the best available rung
 * (automatic selection skips software WebGPU adapters).
 */
export async function selectBackend(
  name?: string,
  options: ProbeOptions = {},
): Promise<BackendSelection> {
  const sys = options.system ?? nodeSystem;
  const failures: BackendSelection["failures"] = [];
  const probes: BackendProbe[] = [];
  const finish = (chosen: BackendName): BackendSelection => {
    const overrides = registerKernelOverrides();
    const flags = applyTfjsFlags();
    if (Object.keys(flags.unknown).length > 0) {
      console.warn(
        `SGD_STUDIO_TFJS_FLAGS: not set (no loaded tfjs package has them): ${Object.keys(flags.unknown).join(", ")}`,
      );
    }
    return {
      name: chosen,
      tfjsBackend: tf.getBackend(),
      probes,
      failures,
      overrides,
      flags,
      summary: summarize(chosen, probes),
    };
  };

  if (name !== undefined) {
    if (!isBackendName(name)) {
      throw new BackendUnavailableError(
        `Unknown backend "${name}". Backends, best first: ${BACKEND_LADDER.join(", ")}.`,
        [],
      );
    }
    const probe = await probeOne(name, sys);
    probes.push(probe);
    let error = probe.available ? undefined : probe.reason;
    if (probe.available) {
      try {
        await activate(name, sys, options.wasmThreads);
        return finish(name);
      } catch (e) {
        error = errorText(e);
      }
    }
    const others = await probeBackends({
      system: sys,
      only: BACKEND_LADDER.filter((n) => n !== name),
    });
    const available = others.filter((p) => p.available).map((p) => p.name);
    throw new BackendUnavailableError(
      `Backend "${name}" cannot be used: ${error}.` +
        (probe.fix ? ` Fix: ${probe.fix}` : "") +
        ` Available here: ${available.join(", ") || "none"}.`,
      [probe, ...others],
    );
  }

  for (const rung of BACKEND_LADDER) {
    // The torch engine is chosen by the worker before a TensorFlow.js backend is selected.
    if (rung === "torch") continue;
    const probe = await probeOne(rung, sys);
    probes.push(probe);
    if (!probe.available || !probe.autoSelect) continue;
    try {
      await activate(rung, sys, options.wasmThreads);
      return finish(rung);
    } catch (e) {
      failures.push({ name: rung, error: errorText(e) });
      probe.reason = `initialisation failed: ${errorText(e)}`;
    }
  }
  throw new BackendUnavailableError(
    "No training backend could be initialised (not even cpu).",
    probes,
  );
}

/* --------------------------------------------------------------- doctor */

/**
 * What `doctorReport` returns: the structured report (the service's
 * `system.backends`). The human-readable form is the CLI's
 * (`cli/doctor-text.ts`).
 */
export interface DoctorReport {
  json: DoctorJson;
}

const ENV_KEYS = [
  "CUDA_VISIBLE_DEVICES",
  "LD_LIBRARY_PATH",
  "XDG_RUNTIME_DIR",
  "VK_ICD_FILENAMES",
  "VK_DRIVER_FILES",
  "TF_CPP_MIN_LOG_LEVEL",
] as const;

/** Probes everything and reports it as JSON (`sgd-studio doctor`, the service's `system.backends`). */
export async function doctorReport(options: ProbeOptions = {}): Promise<DoctorReport> {
  const sys = options.system ?? nodeSystem;
  const env: Record<string, string | null> = {};
  for (const k of ENV_KEYS) env[k] = sys.env[k] ?? null;
  const backends = await probeBackends({ system: sys });
  const json: DoctorJson = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    tfjsCore: tf.version_core,
    recommended: backends.find((b) => b.available && b.autoSelect)?.name ?? null,
    activeBackend: tf.getBackend() ?? "",
    backends,
    kernelOverrides: registerKernelOverrides(),
    env,
  };
  return { json };
}
