/**
 * The wasm backend on several threads in Node (the training worker process,
 * Electron's main and utility processes, the CLI).
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD build
 * (wasm-out/tfjs-backend-wasm-threaded-simd.js + .wasm; XNNPACK on a
 * pthreadpool) whose emscripten glue supports Node's worker_threads, but
 * tfjs never uses it in Node: its WASM_HAS_MULTITHREAD_SUPPORT flag is false
 * there, and its init() hands emscripten `blob:` URLs for the pthread worker
 * and the main script, which Node's Worker refuses (ERR_WORKER_PATH).
 *
 * What this module does instead, without touching node_modules: it registers
 * its own factory for the "wasm" backend (tf.registerBackend, as tfjs's
 * package does) that
 *   - loads the threaded glue with require() (so emscripten's main script is
 *     a real file, passed as `mainScriptUrlOrBlob`);
 *   - gives emscripten, through `locateFile`, a `data:` URL for the pthread
 *     worker: a three-line ES module that runs tfjs's own worker script
 *     (`wasmWorkerContents`, exported by wasm-out/…threaded-simd.worker.js,
 *     the same text tfjs would have put in a Blob) with `require`;
 *   - instantiates the .wasm itself (`instantiateWasm`, emscripten's hook) so
 *     that it can answer `emscripten_num_logical_cores`: tfjs's C++ caps the
 *     threadpool at half the logical cores ("hyperthreads") and at 8, so it
 *     is told 2 x the threads we want;
 *   - builds tfjs's own `BackendWasm` on that module, with tfjs's
 *     `setThreadsCount`, exactly as tfjs's factory does;
 *   - unrefs the pthread workers, so they never keep a process alive;
 *   - starts the kernel pool (kernels/wasm-parallel.ts) that runs the
 *     project's JavaScript kernels on as many threads over the shared heap.
 * One thread uses tfjs's own factory (the plain SIMD build, no workers).
 *
 * A tfjs upgrade that changes any of this makes the threaded factory throw or
 * start fewer threads than asked: the factory then falls back to tfjs's own
 * (one thread) with a note that doctor and the run's numeric path show, and
 * wasm-threads.test.ts fails (it checks the thread count, the worker script
 * export and the import name on the installed package).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { startKernelPool } from "./kernels/wasm-parallel.js";
import { nodeSystem, type SystemAccess } from "./system.js";
import { parseThreads, WASM_THREADS_ENV } from "./wasm-threads-setting.js";

/** tfjs-backend-wasm's C++ caps its threadpool at 8 (max_num_threads; the glue preallocates 8 workers). */
export const TFJS_WASM_MAX_THREADS = 8;

export { parseThreads, WASM_THREADS_ENV };

const requireHere = createRequire(import.meta.url);

/** The WebAssembly API this module uses (its types are the DOM lib's, not in this project's libs). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: object; module: object }>;
}
const wasmApi = (): WebAssemblyApi | undefined =>
  (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;

/* ------------------------------------------------------------ the machine */

export interface CpuTopology {
  /** Logical CPUs this process may use (os.availableParallelism()). */
  logical: number;
  /** Physical cores among them (SMT siblings counted once), capped by a cgroup CPU quota. */
  physical: number;
  /** How `physical` was found. */
  source: string;
}

/**
 * Physical cores from Linux's `thread_siblings_list` of each online CPU
 * (one distinct list per core, e.g. "0,4" or "0-1" with SMT, "3" without).
 */
export function physicalFromSiblings(lists: readonly string[]): number {
  return new Set(lists.map((l) => l.trim()).filter(Boolean)).size;
}

/** CPUs granted by a cgroup v2 `cpu.max` ("max 100000" = unlimited, "150000 100000" = 1.5). */
export function cpusFromCgroupMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (!quota || quota === "max") return null;
  const q = Number(quota);
  const p = Number(period ?? 100000);
  return q > 0 && p > 0 ? q / p : null;
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** Logical CPUs, physical cores and how they were found. */
export function cpuTopology(sys: Pick<SystemAccess, "platform"> = nodeSystem): CpuTopology {
  const logical = Math.max(1, os.availableParallelism());
  let physical = logical;
  let source = "logical CPUs (physical cores unknown)";
  if (sys.platform === "linux") {
    const siblings: string[] = [];
    for (let i = 0; i < Math.max(logical, os.cpus().length); i++) {
      const s = readText(`/sys/devices/system/cpu/cpu${i}/topology/thread_siblings_list`);
      if (s) siblings.push(s);
    }
    const n = physicalFromSiblings(siblings);
    if (n > 0) {
      physical = Math.min(n, logical);
      source = "/sys/devices/system/cpu/*/topology";
    }
    const quota = cpusFromCgroupMax(readText("/sys/fs/cgroup/cpu.max") ?? "");
    if (quota !== null && Math.ceil(quota) < physical) {
      physical = Math.max(1, Math.ceil(quota));
      source = `cgroup CPU quota (${quota} CPUs)`;
    }
  } else if (sys.platform === "darwin") {
    try {
      const out = requireHere("node:child_process")
        .execFileSync("sysctl", ["-n", "hw.physicalcpu"], { encoding: "utf8", timeout: 5000 })
        .trim();
      const n = Number(out);
      if (n > 0) {
        physical = Math.min(n, logical);
        source = "sysctl hw.physicalcpu";
      }
    } catch {
      // keep the logical count
    }
  }
  return { logical, physical, source };
}

/* ------------------------------------------------------------- the choice */

export interface WasmThreadsChoice {
  /** Threads the wasm backend is asked to use (1 .. TFJS_WASM_MAX_THREADS). */
  threads: number;
  /** Where the number comes from. */
  source: "option" | "env" | "auto";
  /** Why, in words ("auto: 4 physical cores, one left for the host"). */
  why: string;
  /** Something the user should know (an invalid variable, a cap). */
  note?: string;
  /** True when the note is about what the user asked for (worth a warning when training starts). */
  warn?: boolean;
}

/**
 * The thread count: `requested` (a flag or a call) if given, else
 * SGD_STUDIO_WASM_THREADS, else the machine's physical cores less one for
 * the host; at least 1, at most TFJS_WASM_MAX_THREADS.
 */
export function resolveWasmThreads(
  requested?: number | "auto",
  env: Record<string, string | undefined> = process.env,
  topology: CpuTopology = cpuTopology(),
): WasmThreadsChoice {
  const notes: string[] = [];
  const auto = (): WasmThreadsChoice => {
    const n = Math.max(1, topology.physical - 1);
    const core = (k: number) => `${k} physical core${k === 1 ? "" : "s"}`;
    return {
      threads: n,
      source: "auto",
      why:
        topology.physical > 1
          ? `auto: ${core(topology.physical)}, one left for the host`
          : `auto: ${core(topology.physical)}`,
    };
  };
  let choice: WasmThreadsChoice;
  if (requested !== undefined && requested !== "auto") {
    choice = { threads: requested, source: "option", why: `asked for ${requested}` };
  } else if (requested === undefined && env[WASM_THREADS_ENV] !== undefined) {
    const raw = env[WASM_THREADS_ENV] ?? "";
    const v = parseThreads(raw);
    if (v === null) {
      notes.push(`${WASM_THREADS_ENV}=${raw} is not "auto" or a whole number >= 1; using auto`);
      choice = auto();
    } else if (v === "auto") choice = auto();
    else choice = { threads: v, source: "env", why: `${WASM_THREADS_ENV}=${v}` };
  } else {
    choice = auto();
  }
  if (!Number.isInteger(choice.threads) || choice.threads < 1) {
    throw new Error(`wasm threads must be a whole number >= 1, got ${choice.threads}`);
  }
  if (choice.threads > TFJS_WASM_MAX_THREADS) {
    notes.push(
      `${choice.threads} threads ${choice.source === "auto" ? "would fit" : "asked for"}; tfjs-backend-wasm uses at most ${TFJS_WASM_MAX_THREADS}`,
    );
    choice.threads = TFJS_WASM_MAX_THREADS;
  }
  if (choice.source !== "auto" && choice.threads > topology.logical) {
    notes.push(
      `${choice.threads} threads on ${topology.logical} logical CPUs: oversubscribed, expect it to be slower`,
    );
  }
  if (!notes.length) return choice;
  // Auto's own cap is for doctor; anything about a value the user gave is a warning.
  const warn = choice.source !== "auto" || env[WASM_THREADS_ENV] !== undefined;
  return { ...choice, note: notes.join("; "), ...(warn && { warn }) };
}

/* ---------------------------------------------------------- can it thread */

/** The threaded build's files in the installed tfjs-backend-wasm. */
export interface ThreadedFiles {
  /** Emscripten's glue (CommonJS, exports the module factory). */
  glue: string;
  /** CommonJS module exporting `wasmWorkerContents`, tfjs's pthread worker script. */
  workerModule: string;
  wasm: string;
}

/**
 * Inside a packaged Electron app, files listed in asarUnpack live beside
 * app.asar; worker threads read them from there (electron-builder.yml).
 */
function unpacked(file: string): string {
  const marker = `app.asar${path.sep}`;
  if (!file.includes(marker)) return file;
  const real = file.replace(marker, `app.asar.unpacked${path.sep}`);
  return nodeSystem.exists(real) ? real : file;
}

export function threadedFiles(sys: SystemAccess = nodeSystem): ThreadedFiles | null {
  const pkg = sys.resolve("@tensorflow/tfjs-backend-wasm/package.json");
  if (!pkg) return null;
  const dir = path.dirname(pkg);
  return {
    glue: unpacked(path.join(dir, "wasm-out", "tfjs-backend-wasm-threaded-simd.js")),
    workerModule: unpacked(path.join(dir, "wasm-out", "tfjs-backend-wasm-threaded-simd.worker.js")),
    wasm: unpacked(path.join(dir, "dist", "tfjs-backend-wasm-threaded-simd.wasm")),
  };
}

/** A wasm module using threads (atomic.notify on shared memory), as tfjs's own check. */
const THREADS_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65,
  0, 254, 16, 2, 0, 26, 11,
]);

export interface ThreadSupport {
  ok: boolean;
  /** Why not, in words. */
  reason?: string;
}

/** Can this process run the threaded build? (SharedArrayBuffer, worker_threads, wasm threads, the files.) */
export function wasmThreadSupport(sys: SystemAccess = nodeSystem): ThreadSupport {
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") {
    return { ok: false, reason: "SharedArrayBuffer is not available in this process" };
  }
  try {
    requireHere("node:worker_threads");
  } catch {
    return { ok: false, reason: "node:worker_threads is not available in this process" };
  }
  try {
    if (!wasmApi()?.validate(THREADS_PROBE)) {
      return { ok: false, reason: "this WebAssembly engine has no threads (atomics)" };
    }
  } catch {
    return { ok: false, reason: "this WebAssembly engine has no threads (atomics)" };
  }
  const files = threadedFiles(sys);
  if (!files) return { ok: false, reason: "@tensorflow/tfjs-backend-wasm is not installed" };
  const missing = Object.values(files).filter((f) => !sys.exists(f));
  if (missing.length) {
    return { ok: false, reason: `the threaded build is missing: ${missing.join(", ")}` };
  }
  return { ok: true };
}

/* ------------------------------------------------------------ the factory */

/** What tfjs-backend-wasm exports that the factory uses. */
interface WasmPackage {
  BackendWasm: new (module: never) => tf.KernelBackend;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/** The parts of emscripten's module object the factory touches. */
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: unknown[]) => unknown;
  tfjs?: Record<string, unknown>;
  PThread?: {
    unusedWorkers: { unref(): void; terminate(): Promise<number> }[];
    runningWorkers: { unref(): void }[];
  };
}

type EmscriptenFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/**
 * The pthread worker as a `data:` URL: an ES module that runs tfjs's worker
 * script as the CommonJS file it was written as (it reads `require` and
 * `__filename`). tfjs puts the same text in a Blob for browsers; its
 * template literal turned "\n" escapes into real newlines, which tfjs
 * escapes back before use, and so do we.
 */
export function pthreadWorkerUrl(workerModule: string): URL {
  const file = JSON.stringify(workerModule);
  const source = [
    `import { createRequire } from "node:module";`,
    `const require = createRequire(${file});`,
    `const { wasmWorkerContents } = require(${file});`,
    `new Function("require", "__filename", wasmWorkerContents.replace(/\\n/g, "\\\\n"))(require, ${file});`,
  ].join("\n");
  return new URL(`data:text/javascript,${encodeURIComponent(source)}`);
}

/** The same cwraps tfjs's init() puts on the module (backend_wasm.ts). */
function addTfjsBridge(module: EmscriptenModule): void {
  module.tfjs = {
    init: module.cwrap("init", null, []),
    initWithThreadsCount: module.cwrap("init_with_threads_count", null, ["number"]),
    getThreadsCount: module.cwrap("get_threads_count", "number", []),
    registerTensor: module.cwrap("register_tensor", null, ["number", "number", "number"]),
    disposeData: module.cwrap("dispose_data", null, ["number"]),
    dispose: module.cwrap("dispose", null, []),
  };
}

/**
 * Emscripten's Node glue (tfjs's one-thread build as well as the threaded
 * one) adds process handlers that rethrow every uncaught exception and
 * unhandled rejection from inside its one-line minified source, so Node
 * prints ~50 KB of code with any later error of the process, and a worker's
 * stderr no longer ends with the error. They add nothing (rethrowing is
 * Node's default): removed, recognised by their source.
 */
export function removeEmscriptenHandlers(): void {
  const isGlue = (l: (...a: unknown[]) => void) => {
    const src = l.toString().replace(/\s+/g, "");
    return (
      src.includes("instanceofExitStatus") || /^function\(reason\)\{throwreason;?\}$/.test(src)
    );
  };
  for (const event of ["uncaughtException", "unhandledRejection"] as const) {
    const listeners = process.listeners(event as "uncaughtException") as ((
      ...a: unknown[]
    ) => void)[];
    for (const l of listeners) {
      if (isGlue(l)) process.removeListener(event as "uncaughtException", l);
    }
  }
}

/** Creates a BackendWasm on `threads` threads from the threaded build. Throws when it cannot. */
export async function createThreadedBackend(
  pkg: WasmPackage,
  threads: number,
  files: ThreadedFiles,
): Promise<tf.KernelBackend> {
  const factory = requireHere(files.glue) as EmscriptenFactory;
  if (typeof factory !== "function") {
    throw new Error(`${files.glue} does not export the emscripten module factory`);
  }
  const { wasmWorkerContents } = requireHere(files.workerModule) as {
    wasmWorkerContents?: unknown;
  };
  if (typeof wasmWorkerContents !== "string") {
    throw new Error(`${files.workerModule} does not export wasmWorkerContents`);
  }
  const binary = readFileSync(files.wasm);
  const workerUrl = pthreadWorkerUrl(files.workerModule);
  let importPatched = false;
  const module = await new Promise<EmscriptenModule>((resolve, reject) => {
    const ready = factory({
      locateFile: (file: string, prefix: string) => {
        if (file.endsWith(".worker.js")) return workerUrl;
        if (file.endsWith(".wasm")) return files.wasm;
        return prefix + file;
      },
      mainScriptUrlOrBlob: files.glue,
      instantiateWasm: (
        imports: { env?: Record<string, unknown> },
        receive: (instance: object, module: object) => void,
      ) => {
        // tfjs's C++: num_cores = emscripten_num_logical_cores() / 2, and the
        // threadpool gets min(asked, num_cores, 8) threads.
        if (imports.env && "emscripten_num_logical_cores" in imports.env) {
          imports.env.emscripten_num_logical_cores = () => 2 * threads;
          importPatched = true;
        }
        (wasmApi() as WebAssemblyApi)
          .instantiate(binary, imports)
          .then((r) => receive(r.instance, r.module), reject);
        return {};
      },
      onAbort: (what: unknown) => reject(new Error(`threaded wasm aborted: ${String(what)}`)),
    });
    removeEmscriptenHandlers();
    ready.then(resolve, reject);
  });
  if (!importPatched) {
    throw new Error(
      "the threaded build no longer imports emscripten_num_logical_cores: its thread cap cannot be set",
    );
  }
  addTfjsBridge(module);
  pkg.setThreadsCount(threads);
  const backend = new pkg.BackendWasm(module as never);
  // XNNPACK's threads wait for work forever: never let them keep the process alive.
  for (const w of module.PThread?.runningWorkers ?? []) w.unref();
  // The glue preallocates 8 workers; the threadpool took threads - 1 of them
  // and nothing in tfjs starts threads later. The rest cost ~20 MB each.
  for (const w of module.PThread?.unusedWorkers.splice(0) ?? []) void w.terminate();
  const got = pkg.getThreadsCount();
  if (got !== threads) {
    backend.dispose();
    throw new Error(`the threaded build started ${got} threads, not ${threads}`);
  }
  // The project's JS kernels on as many threads (kernels/wasm-parallel.ts).
  try {
    await startKernelPool(backend, threads);
  } catch (e) {
    backend.dispose();
    throw e;
  }
  return backend;
}

/* ---------------------------------------------------- registering the backend */

const WASM = "wasm";
/** tfjs-backend-wasm registers "wasm" with this priority. */
const WASM_PRIORITY = 2;
/** Marks our factories (a global symbol: survives vitest's module resets). */
const TAG = Symbol.for("sgd-studio.wasm-threads.factory");
/** tfjs's own factory, kept on globalThis for the same reason. */
const TFJS_FACTORY = Symbol.for("sgd-studio.wasm-threads.tfjs-factory");

type Factory = () => tf.KernelBackend | Promise<tf.KernelBackend>;
type TaggedFactory = Factory & { [TAG]?: number };

export interface WasmThreadsState {
  /** The threads asked for (the choice in force when the backend was set up). */
  requested: number;
  /** Threads the initialised backend runs; null before it is initialised. */
  active: number | null;
  /** Why not as many as asked (no threads here, or the threaded factory failed). */
  note?: string;
}

const state: WasmThreadsState = { requested: 1, active: null };

/** The wasm backend's thread state in this process. */
export function wasmThreadsState(): WasmThreadsState {
  return { ...state };
}

function engineRegistry(): Record<string, unknown> {
  return (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
}

function tfjsFactory(): Factory {
  const g = globalThis as { [TFJS_FACTORY]?: Factory };
  const current = tf.findBackendFactory(WASM) as TaggedFactory | null;
  if (current && current[TAG] === undefined) g[TFJS_FACTORY] = current;
  const f = g[TFJS_FACTORY];
  if (!f) throw new Error("@tensorflow/tfjs-backend-wasm has not registered its backend");
  return f;
}

/**
 * Makes the "wasm" backend run on `threads` threads from its next
 * initialisation: registers our factory (or tfjs's own for one thread). If
 * the backend is already initialised with another count, it is disposed
 * (tensors on it are lost) and re-created on the next tf.setBackend("wasm").
 * Call after importing @tensorflow/tfjs-backend-wasm.
 */
export function configureWasmThreads(pkg: WasmPackage, threads: number): void {
  const original = tfjsFactory();
  const current = tf.findBackendFactory(WASM) as TaggedFactory | null;
  // undefined for tfjs's own factory: replaced by ours, which records the count.
  const registeredFor = current?.[TAG];
  const initialised = WASM in engineRegistry();
  state.requested = threads;
  if (initialised) {
    const actual = pkg.getThreadsCount();
    // Running as asked, or asked before and fell back to one thread (the note says why).
    if (actual === threads || registeredFor === threads) {
      state.active = actual;
      return;
    }
  } else if (current && registeredFor === threads) {
    return;
  }
  if (current) tf.removeBackend(WASM);
  state.active = null;
  state.note = undefined;
  if (threads === 1) {
    const single: TaggedFactory = async () => {
      pkg.setThreadsCount(1);
      const backend = await original();
      removeEmscriptenHandlers();
      state.active = pkg.getThreadsCount();
      return backend;
    };
    single[TAG] = 1;
    tf.registerBackend(WASM, single, WASM_PRIORITY);
    return;
  }
  const threaded: TaggedFactory = async () => {
    const support = wasmThreadSupport();
    let why = support.reason;
    if (support.ok) {
      try {
        const backend = await createThreadedBackend(pkg, threads, threadedFiles() as ThreadedFiles);
        state.active = threads;
        return backend;
      } catch (e) {
        why = `the threaded wasm build failed to start (${e instanceof Error ? e.message : String(e)})`;
      }
    }
    state.note = `one thread: ${why}`;
    pkg.setThreadsCount(1);
    const backend = await original();
    removeEmscriptenHandlers();
    state.active = pkg.getThreadsCount();
    return backend;
  };
  threaded[TAG] = threads;
  tf.registerBackend(WASM, threaded, WASM_PRIORITY);
}
