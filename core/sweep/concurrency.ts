/**
 * How many sweep members one host trains at once when the user does not say
 * (`sweep run --concurrency N` overrides it):
 * - a GPU backend (tensorflow-gpu, webgpu; or auto on a machine with GPUs):
 *   one member per GPU adapter;
 * - on the CPU: a core budget. The wasm backend runs each member on T
 *   threads (SGD_STUDIO_WASM_THREADS / the wasmThreads setting, else the
 *   physical cores less one), so N = floor(cores / T), at least 1: N * T
 *   never exceeds the cores. The pure-JS cpu backend uses one thread per
 *   run: N = cores less one for the host, at least 1.
 * With an explicit N on the CPU and no thread count given, each member gets
 * T = floor(cores / N) wasm threads (at least 1), for the same reason.
 */

export interface ConcurrencyInput {
  /** --concurrency, when given. */
  requested?: number;
  /** The members' backend ("auto" or absent: picked at start). */
  backend?: string;
  /** Physical CPU cores this process may use. */
  cores: number;
  /** wasm threads per run the user chose (env, setting or --threads), or null for auto. */
  threads: number | null;
  /** GPU adapters found (nvidia-smi -L), 0 when none. */
  gpus: number;
}

export interface ConcurrencyChoice {
  concurrency: number;
  /** wasm threads each member should use (null: leave the worker's own choice). */
  threadsPerRun: number | null;
  /** Why, in words, for the user. */
  why: string;
}

const GPU_BACKENDS = ["tensorflow-gpu", "webgpu"];

export function chooseConcurrency(input: ConcurrencyInput): ConcurrencyChoice {
  const { requested, cores, gpus } = input;
  const backend = input.backend ?? "auto";
  const onGpu = GPU_BACKENDS.includes(backend) || (backend === "auto" && gpus > 0);
  if (onGpu) {
    const n = requested ?? Math.max(1, gpus);
    return {
      concurrency: n,
      threadsPerRun: null,
      why: requested ? `--concurrency ${n}` : `one per GPU adapter (${Math.max(1, gpus)} found)`,
    };
  }
  if (backend === "cpu") {
    const n = requested ?? Math.max(1, cores - 1);
    return {
      concurrency: n,
      threadsPerRun: null,
      why: requested
        ? `--concurrency ${n}`
        : `pure-JS cpu backend, one thread per run: ${cores} cores less one for the host`,
    };
  }
  if (requested !== undefined) {
    const t = input.threads ?? Math.max(1, Math.floor(cores / requested));
    return {
      concurrency: requested,
      threadsPerRun: input.threads === null ? t : null,
      why: `--concurrency ${requested}, ${t} wasm thread${t === 1 ? "" : "s"} each (${requested} x ${t} ${requested * t <= cores ? "<=" : ">"} ${cores} cores)`,
    };
  }
  const t = input.threads ?? Math.max(1, Math.min(8, cores - 1));
  const n = Math.max(1, Math.floor(cores / t));
  return {
    concurrency: n,
    threadsPerRun: null,
    why: `CPU budget: ${cores} cores / ${t} wasm thread${t === 1 ? "" : "s"} per run = ${n} at once`,
  };
}
