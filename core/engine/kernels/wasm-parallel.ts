/**
 * The wasm kernel overrides' JavaScript loops on the wasm backend's threads.
 *
 * When the wasm backend runs its threaded build (core/engine/wasm-threads.ts)
 * its heap is a SharedArrayBuffer, so plain JS workers can read and write
 * tensors in place. A pool of threads - 1 worker_threads per backend
 * (started with it, stopped when it is disposed) runs the loops of
 * wasm-parallel-tasks.ts.
 *
 * A call cuts the kernel's work into chunks - how many depends on the work
 * only, never on the thread count - and the calling thread and the workers
 * claim chunks from a shared counter until none is left; the call returns
 * when every chunk is done. So a worker that the OS has not scheduled yet (a
 * machine busy with other jobs) costs nothing: the others take its chunks.
 * And since reductions keep one float64 partial per chunk, added in chunk
 * order, a kernel's result is the same on any number of threads, bit for
 * bit. Dispatch is a small shared control block (Atomics.wait / notify, no
 * messages), ~10-50 us per call; work under two chunks runs here at once.
 *
 * Without the threaded build (one thread, or no SharedArrayBuffer) there is
 * no pool: runTask runs the same chunks on the calling thread, in order.
 */
import { Worker } from "node:worker_threads";
import { TASKS, type Task, WORKER_FUNCTIONS } from "./wasm-parallel-tasks.js";
import {
  isWasmMemory,
  type SimdExports,
  simdModule,
  simdOn,
  type WasmMemory,
} from "./wasm-simd.js";

/** Elements of work per chunk (a kernel with less than two chunks of work does not split). */
export const CHUNK_WORK = 1 << 17;
let chunkWork = CHUNK_WORK;
/** Most chunks one call is cut into. */
const MAX_CHUNKS = 64;

/** Sets the elements per chunk (tests cut tiny tensors); returns the previous value. */
export function setChunkWork(elements: number): number {
  if (!Number.isInteger(elements) || elements < 1) throw new Error("chunk work must be >= 1");
  const previous = chunkWork;
  chunkWork = elements;
  return previous;
}

/**
 * Microseconds a worker watches for the next call before it sleeps, and the
 * calling thread for the workers' last chunks (issue 19: the mlp's step is
 * ~60 kernels in ~5 ms). Set before the backend starts (benches, A/B).
 */
let workerSpinUs = 0;
let mainSpinUs = 0;

/** Sets the spin times for pools started from now on; returns the previous ones. */
export function setPoolSpin(worker: number, main: number): { worker: number; main: number } {
  const previous = { worker: workerSpinUs, main: mainSpinUs };
  workerSpinUs = worker;
  mainSpinUs = main;
  return previous;
}

/** Bytes of the pool's scratch buffer (per-chunk partial sums). */
const SCRATCH_BYTES = 4 * 2 ** 20;

/**
 * How many chunks `work` elements are cut into (at least 1), given the
 * scratch each chunk writes. Depends on the work only, not on the threads.
 */
export function chunksFor(work: number, scratchBytesPerChunk = 0): number {
  const byScratch =
    scratchBytesPerChunk > 0 ? Math.floor(SCRATCH_BYTES / scratchBytesPerChunk) : MAX_CHUNKS;
  return Math.max(1, Math.min(MAX_CHUNKS, byScratch, Math.floor(work / chunkWork)));
}

/**
 * Control block, Int32: [0] generation (a new call), [1] task, [2] claim
 * word ((generation & 0x7fff) << 16 | next chunk), [3] chunks, [4] chunks
 * done, [5] failed, [6] chunks the workers ran (ever; benches); float64
 * arguments from ARG_OFFSET.
 */
const CTL_INTS = 16;
const ARG_OFFSET = CTL_INTS * 4;
const MAX_ARGS = 64;

/** The wasm backend's memory (shared, for a pool). */
type SharedMemory = WasmMemory;

/**
 * The worker's program: the task functions' own source, then a loop that
 * sleeps until a new call and claims its chunks. A claim is a compare-and-
 * swap on the claim word, which carries the call's generation: a worker
 * that wakes late never takes a chunk of a later call by mistake, and reads
 * the call's task and arguments only after a successful claim (the caller
 * changes them only once every chunk is done).
 */
function workerSource(): string {
  return `"use strict";
const { workerData, parentPort } = require("node:worker_threads");
var __name = (f) => f;
${WORKER_FUNCTIONS.map((f) => f.toString()).join("\n")}
const tasks = [${TASKS.map((t) => t.name).join(", ")}];
const { memory, control, scratch, simdModule, spinUs } = workerData;
// The SIMD loops (wasm-simd.ts) on the same shared memory as the backend.
const simd = new WebAssembly.Instance(simdModule, { env: { memory } }).exports;
const ctl = new Int32Array(control, 0, ${CTL_INTS});
const args = new Float64Array(control, ${ARG_OFFSET}, ${MAX_ARGS});
let generation = 0;
parentPort.postMessage("ready");
for (;;) {
  // Watch for the next call for spinUs before sleeping: a dense network's
  // kernels come every few tens of microseconds, and a futex wake-up costs
  // about as much as a small kernel's share.
  if (spinUs > 0 && Atomics.load(ctl, 0) === generation) {
    const until = performance.now() + spinUs / 1000;
    for (let i = 1; Atomics.load(ctl, 0) === generation; i++) {
      if ((i & 63) === 0 && performance.now() > until) break;
    }
  }
  Atomics.wait(ctl, 0, generation);
  generation = Atomics.load(ctl, 0);
  const tag = (generation & 0x7fff) << 16;
  for (;;) {
    const claim = Atomics.load(ctl, 2);
    if ((claim & 0x7fff0000) !== tag) break;
    const chunk = claim & 0xffff;
    const chunks = Atomics.load(ctl, 3);
    if (chunk >= chunks) break;
    if (Atomics.compareExchange(ctl, 2, claim, claim + 1) !== claim) continue;
    try {
      tasks[Atomics.load(ctl, 1)](memory.buffer, scratch, args, chunk, chunks, simd);
    } catch (e) {
      Atomics.store(ctl, 5, 1);
      parentPort.postMessage(String((e && e.stack) || e));
    }
    Atomics.add(ctl, 6, 1);
    if (Atomics.add(ctl, 4, 1) + 1 === chunks) Atomics.notify(ctl, 4);
  }
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
  /** The SIMD loops on the pool's memory, for the calling thread's chunks. */
  readonly simd: SimdExports;
  private lastError = "";
  private stopped = false;
  /** Calls that were cut into chunks and offered to the workers, by task name (tests, benches). */
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
    this.simd = simdOn(memory);
    const source = workerSource();
    this.workers = [];
    for (let index = 1; index < threads; index++) {
      const w = new Worker(source, {
        eval: true,
        // Nothing of the host's loaders (tsx, test runners): the source is plain JS.
        execArgv: [],
        workerData: {
          memory,
          control,
          scratch: this.scratch,
          simdModule: simdModule(true),
          spinUs: workerSpinUs,
        },
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
   * Runs chunks 0 .. chunks - 1 of `task`, here and on the workers; returns
   * when all are done.
   */
  run(task: Task, args: ArrayLike<number>, chunks: number): void {
    if (args.length > MAX_ARGS) throw new Error(`kernel pool: more than ${MAX_ARGS} arguments`);
    if (!Number.isInteger(chunks) || chunks < 1 || chunks > 0xffff) {
      throw new Error(`kernel pool: bad chunk count ${chunks}`);
    }
    this.args.set(args);
    if (chunks === 1 || this.stopped) {
      for (let c = 0; c < chunks; c++) {
        task(this.memory.buffer, this.scratch, this.args, c, chunks, this.simd);
      }
      return;
    }
    const id = TASKS.indexOf(task);
    if (id < 0) throw new Error(`kernel pool: ${task.name} is not one of its tasks`);
    this.dispatches.set(task.name, (this.dispatches.get(task.name) ?? 0) + 1);
    const ctl = this.ctl;
    const generation = (Atomics.load(ctl, 0) + 1) | 0;
    const tag = (generation & 0x7fff) << 16;
    Atomics.store(ctl, 1, id);
    Atomics.store(ctl, 3, chunks);
    Atomics.store(ctl, 4, 0);
    Atomics.store(ctl, 5, 0);
    Atomics.store(ctl, 2, tag);
    Atomics.store(ctl, 0, generation);
    Atomics.notify(ctl, 0);
    let error: unknown;
    for (;;) {
      const claim = Atomics.load(ctl, 2);
      const chunk = claim & 0xffff;
      if (chunk >= chunks) break;
      if (Atomics.compareExchange(ctl, 2, claim, claim + 1) !== claim) continue;
      try {
        task(this.memory.buffer, this.scratch, this.args, chunk, chunks, this.simd);
      } catch (e) {
        error ??= e;
      }
      Atomics.add(ctl, 4, 1);
    }
    // The workers' last chunks: they end within a chunk's time, so watch for
    // them for a while before sleeping (a futex wake-up costs ~50 us).
    const until = performance.now() + mainSpinUs / 1000;
    for (let i = 1, done = Atomics.load(ctl, 4); done < chunks; i++, done = Atomics.load(ctl, 4)) {
      if ((i & 63) === 0 && performance.now() > until) Atomics.wait(ctl, 4, done);
    }
    if (error) throw error;
    if (Atomics.load(ctl, 5) !== 0) {
      throw new Error(`kernel pool: ${task.name} failed in a worker: ${this.lastError}`);
    }
  }

  /** Chunks the workers (not the calling thread) have run since the pool started. */
  get workerChunks(): number {
    return Atomics.load(this.ctl, 6);
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

/**
 * The WebAssembly.Memory of a single-threaded BackendWasm (emscripten's
 * exports hold it as `asm.memory` there; the threaded build's is
 * Module.wasmMemory).
 */
function plainMemoryOf(backend: unknown): WasmMemory {
  const wasm = (backend as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } }).wasm;
  const memory = wasm?.wasmMemory ?? wasm?.asm?.memory;
  if (!isWasmMemory(memory)) {
    throw new Error("not a wasm backend: its WebAssembly.Memory is not exposed");
  }
  return memory;
}

/**
 * Runs `task` in chunksFor(work, scratchBytesPerChunk) chunks: on the
 * backend's pool when it has one, else here, in order. Returns the scratch
 * (one slot of partial results per chunk, for reductions) and the number
 * of chunks.
 */
export function runTask(
  backend: unknown,
  task: Task,
  args: ArrayLike<number>,
  work: number,
  scratchBytesPerChunk = 0,
): { scratch: ArrayBufferLike; parts: number } {
  const chunks = chunksFor(work, scratchBytesPerChunk);
  const pool = kernelPool(backend);
  if (pool) {
    pool.run(task, args, chunks);
    return { scratch: pool.scratch, parts: chunks };
  }
  const bytes = chunks * scratchBytesPerChunk;
  if (localScratch.byteLength < bytes) localScratch = new ArrayBuffer(bytes);
  localArgs.set(args);
  const memory = plainMemoryOf(backend);
  const simd = simdOn(memory);
  const heap = memory.buffer;
  for (let c = 0; c < chunks; c++) task(heap, localScratch, localArgs, c, chunks, simd);
  return { scratch: localScratch, parts: chunks };
}

/** Adds the per-chunk float64 partial results [parts, length] in chunk order. */
export function sumParts(scratch: ArrayBufferLike, parts: number, length: number): Float64Array {
  const total = new Float64Array(length);
  for (let p = 0; p < parts; p++) {
    const part = new Float64Array(scratch, p * length * 8, length);
    for (let i = 0; i < length; i++) total[i] = (total[i] as number) + (part[i] as number);
  }
  return total;
}
