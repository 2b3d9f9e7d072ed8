/**
 * The wasm kernel overrides' JavaScript loops on the wasm backend's threads.
 *
 * When the wasm backend runs its threaded build (core/engine/wasm-threads.ts)
 * its heap is a SharedArrayBuffer, so plain JS workers can read and write
 * tensors in place. A pool of threads - 1 worker_threads per backend
 * (started with it, stopped when it is disposed) runs the loops of
 * wasm-parallel-tasks.ts on parts of a kernel's work while the calling
 * thread does part 0; the call returns when every part is done. Dispatch is
 * through a small shared control block (Atomics.wait / notify, no
 * messages), ~10-50 us per call, so kernels only split work of at least
 * MIN_PARALLEL_WORK elements.
 *
 * Without the threaded build (one thread, or no SharedArrayBuffer) there is
 * no pool: runTask runs the whole task on the calling thread, with the same
 * code.
 */
import { Worker } from "node:worker_threads";
import { TASKS, type Task, WORKER_FUNCTIONS } from "./wasm-parallel-tasks.js";

/** Elements of work below which a kernel does not split (dispatch costs ~10-50 us). */
export const MIN_PARALLEL_WORK = 1 << 15;
let minParallelWork = MIN_PARALLEL_WORK;

/** Sets the split threshold (tests split tiny tensors); returns the previous one. */
export function setMinParallelWork(elements: number): number {
  if (!Number.isInteger(elements) || elements < 1) throw new Error("threshold must be >= 1");
  const previous = minParallelWork;
  minParallelWork = elements;
  return previous;
}

/** Bytes of the pool's scratch buffer (per-part partial sums). */
const SCRATCH_BYTES = 4 * 2 ** 20;

/** Control block: Int32 [generation, task, pending, parts, failed], then float64 arguments. */
const CTL_INTS = 16;
const ARG_OFFSET = CTL_INTS * 4;
const MAX_ARGS = 64;

/** What a pool needs of WebAssembly.Memory (shared). */
interface SharedMemory {
  readonly buffer: ArrayBufferLike;
}

/** The worker's program: the task functions' own source, then a wait-run loop. */
function workerSource(): string {
  return `"use strict";
const { workerData, parentPort } = require("node:worker_threads");
var __name = (f) => f;
${WORKER_FUNCTIONS.map((f) => f.toString()).join("\n")}
const tasks = [${TASKS.map((t) => t.name).join(", ")}];
const { memory, control, scratch, index } = workerData;
const ctl = new Int32Array(control, 0, ${CTL_INTS});
const args = new Float64Array(control, ${ARG_OFFSET}, ${MAX_ARGS});
let generation = 0;
parentPort.postMessage("ready");
for (;;) {
  Atomics.wait(ctl, 0, generation);
  generation = Atomics.load(ctl, 0);
  const parts = Atomics.load(ctl, 3);
  if (index < parts) {
    try {
      tasks[Atomics.load(ctl, 1)](memory.buffer, scratch, args, index, parts);
    } catch (e) {
      Atomics.store(ctl, 4, 1);
      parentPort.postMessage(String((e && e.stack) || e));
    }
  }
  if (Atomics.sub(ctl, 2, 1) === 1) Atomics.notify(ctl, 2);
}
`;
}

export class KernelPool {
  /** Threads that work on a call: the workers and the calling thread. */
  readonly threads: number;
  readonly scratch: SharedArrayBuffer;
  private readonly ctl: Int32Array;
  private readonly args: Float64Array;
  private readonly workers: Worker[];
  private lastError = "";
  private stopped = false;
  /** Calls that ran on more than one thread, by task name (tests, benches). */
  readonly dispatches = new Map<string, number>();

  private constructor(
    private readonly memory: SharedMemory,
    threads: number,
  ) {
    this.threads = threads;
    const control = new SharedArrayBuffer(ARG_OFFSET + MAX_ARGS * 8);
    this.ctl = new Int32Array(control, 0, CTL_INTS);
    this.args = new Float64Array(control, ARG_OFFSET, MAX_ARGS);
    this.scratch = new SharedArrayBuffer(SCRATCH_BYTES);
    const source = workerSource();
    this.workers = [];
    for (let index = 1; index < threads; index++) {
      const w = new Worker(source, {
        eval: true,
        // Nothing of the host's loaders (tsx, test runners): the source is plain JS.
        execArgv: [],
        workerData: { memory, control, scratch: this.scratch, index },
      });
      w.on("message", (m) => {
        if (m !== "ready") this.lastError = String(m);
      });
      w.on("error", (e) => {
        this.lastError = String(e?.stack ?? e);
      });
      this.workers.push(w);
    }
  }

  /** Starts threads - 1 workers on `memory` and resolves once each is waiting for work. */
  static async start(memory: SharedMemory, threads: number): Promise<KernelPool> {
    const pool = new KernelPool(memory, threads);
    try {
      await Promise.all(
        pool.workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              const onMessage = (m: unknown) => {
                if (m === "ready") {
                  w.off("message", onMessage);
                  resolve();
                }
              };
              w.on("message", onMessage);
              w.once("error", reject);
              w.once("exit", (code) => reject(new Error(`kernel pool worker exited (${code})`)));
            }),
        ),
      );
    } catch (e) {
      pool.terminate();
      throw e;
    }
    // A pool never keeps a process alive.
    for (const w of pool.workers) w.unref();
    return pool;
  }

  /**
   * Runs `task` in `parts` parts (at most `threads`): parts 1.. on the
   * workers, part 0 here; returns when all are done.
   */
  run(task: Task, args: ArrayLike<number>, parts = this.threads): void {
    if (args.length > MAX_ARGS) throw new Error(`kernel pool: more than ${MAX_ARGS} arguments`);
    const n = Math.max(1, Math.min(parts, this.threads));
    this.args.set(args);
    if (n === 1 || this.stopped) {
      task(this.memory.buffer, this.scratch, this.args, 0, 1);
      return;
    }
    const id = TASKS.indexOf(task);
    if (id < 0) throw new Error(`kernel pool: ${task.name} is not one of its tasks`);
    this.dispatches.set(task.name, (this.dispatches.get(task.name) ?? 0) + 1);
    const ctl = this.ctl;
    Atomics.store(ctl, 1, id);
    Atomics.store(ctl, 3, n);
    Atomics.store(ctl, 4, 0);
    Atomics.store(ctl, 2, this.workers.length);
    Atomics.add(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    let error: unknown;
    try {
      task(this.memory.buffer, this.scratch, this.args, 0, n);
    } catch (e) {
      error = e;
    }
    for (let pending = Atomics.load(ctl, 2); pending !== 0; pending = Atomics.load(ctl, 2)) {
      Atomics.wait(ctl, 2, pending);
    }
    if (error) throw error;
    if (Atomics.load(ctl, 4) !== 0) {
      throw new Error(`kernel pool: ${task.name} failed in a worker: ${this.lastError}`);
    }
  }

  terminate(): void {
    this.stopped = true;
    for (const w of this.workers) void w.terminate();
  }
}

/* ------------------------------------------------------ pools per backend */

/** Pools by wasm memory, on globalThis (a test runner's module reset must not lose them). */
const POOLS = Symbol.for("sgd-studio.wasm-kernel-pools");
function pools(): WeakMap<object, KernelPool> {
  const g = globalThis as { [POOLS]?: WeakMap<object, KernelPool> };
  if (!g[POOLS]) g[POOLS] = new WeakMap();
  return g[POOLS];
}

/** The wasm memory of a BackendWasm (emscripten exports it as Module.wasmMemory). */
function memoryOf(backend: unknown): object | undefined {
  return (backend as { wasm?: { wasmMemory?: object } } | null)?.wasm?.wasmMemory;
}

/**
 * Starts the pool of a threaded BackendWasm (its heap must be shared) and
 * stops it when the backend is disposed. Called by the threaded backend's
 * factory (core/engine/wasm-threads.ts).
 */
export async function startKernelPool(backend: unknown, threads: number): Promise<KernelPool> {
  const memory = memoryOf(backend) as SharedMemory | undefined;
  if (!memory || !(memory.buffer instanceof SharedArrayBuffer)) {
    throw new Error("the wasm backend's memory is not shared: no kernel pool");
  }
  const pool = await KernelPool.start(memory, threads);
  pools().set(memory, pool);
  const b = backend as { dispose(): void };
  const dispose = b.dispose.bind(b);
  b.dispose = () => {
    pool.terminate();
    pools().delete(memory);
    dispose();
  };
  return pool;
}

/** The kernel pool of a wasm backend, or null (one thread). */
export function kernelPool(backend: unknown): KernelPool | null {
  const memory = memoryOf(backend);
  return (memory && pools().get(memory)) || null;
}

/** Scratch for the calling thread when there is no pool. */
let localScratch = new ArrayBuffer(0);
const localArgs = new Float64Array(MAX_ARGS);

/** The wasm heap's buffer of a BackendWasm. */
function heapOf(backend: unknown): ArrayBufferLike {
  const heap = (backend as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
  if (!heap) throw new Error("not a wasm backend: no HEAPU8");
  return heap.buffer;
}

/**
 * Runs `task` on the backend's pool in as many parts as `work` (elements)
 * warrants, or here in one part. `scratchBytesPerPart`: the scratch the task
 * writes per part; returns the scratch buffer (partial results, one slot
 * per part) and the number of parts used.
 */
export function runTask(
  backend: unknown,
  task: Task,
  args: ArrayLike<number>,
  work: number,
  scratchBytesPerPart = 0,
): { scratch: ArrayBufferLike; parts: number } {
  const pool = kernelPool(backend);
  if (pool && work >= minParallelWork) {
    const fit =
      scratchBytesPerPart > 0 ? Math.floor(SCRATCH_BYTES / scratchBytesPerPart) : pool.threads;
    const parts = Math.min(pool.threads, fit, Math.ceil(work / Math.max(1, minParallelWork / 2)));
    if (parts >= 1) {
      pool.run(task, args, parts);
      return { scratch: pool.scratch, parts: Math.max(1, Math.min(parts, pool.threads)) };
    }
  }
  if (localScratch.byteLength < scratchBytesPerPart)
    localScratch = new ArrayBuffer(scratchBytesPerPart);
  localArgs.set(args);
  task(heapOf(backend), localScratch, localArgs, 0, 1);
  return { scratch: localScratch, parts: 1 };
}

/** Adds the per-part float64 partial results [parts, length] in part order. */
export function sumParts(scratch: ArrayBufferLike, parts: number, length: number): Float64Array {
  const total = new Float64Array(length);
  for (let p = 0; p < parts; p++) {
    const part = new Float64Array(scratch, p * length * 8, length);
    for (let i = 0; i < length; i++) total[i] = (total[i] as number) + (part[i] as number);
  }
  return total;
}
