/**
 * Helpers for the kernel overrides' tests: deterministic random inputs,
 * running the same computation on two backends, and the relative error
 * between the results. (No test framework imports, so this also compiles
 * with the sources.)
 */
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../backends.js";
import { nativeWasmKernel } from "./wasm-util.js";
import type { WebGpuBackendLike } from "./webgpu-program.js";

/** Deterministic pseudo-random floats in [-1, 1) (xorshift32). */
export function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** max |a - b| / max |b| (the absolute difference when b is all zeros). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number));
    diff = Math.max(diff, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return scale === 0 ? diff : diff / scale;
}

export interface Computed {
  values: Float32Array[];
  shapes: number[][];
}

/**
 * Runs `f` on a backend and reads its outputs back. Everything `f` creates
 * is disposed.
 */
export async function compute(
  backend: "cpu" | "wasm" | "webgpu",
  f: () => tf.Tensor | tf.Tensor[],
): Promise<Computed> {
  await selectBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const values = await Promise.all(
    list.map(async (t) => Float32Array.from((await t.data()) as Float32Array)),
  );
  const shapes = list.map((t) => [...t.shape]);
  tf.dispose(list);
  return { values, shapes };
}

/** Runs `f` on cpu and on wasm; returns both results (cpu first). */
export async function cpuAndWasm(
  f: () => tf.Tensor | tf.Tensor[],
): Promise<{ cpu: Computed; wasm: Computed }> {
  const cpu = await compute("cpu", f);
  const wasm = await compute("wasm", f);
  return { cpu, wasm };
}

/** Largest relative error over the outputs of two runs (shapes must agree). */
export function maxRelError(got: Computed, ref: Computed): number {
  if (JSON.stringify(got.shapes) !== JSON.stringify(ref.shapes)) {
    throw new Error(
      `shapes differ: ${JSON.stringify(got.shapes)} vs ${JSON.stringify(ref.shapes)}`,
    );
  }
  return Math.max(...got.values.map((v, i) => relError(v, ref.values[i] as Float32Array)));
}

/** Kernel names run by `f` on the active backend (f's outputs are disposed). */
export async function kernelsRun(f: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const info = await tf.profile(() => tf.tidy(f));
  tf.dispose(info.result as tf.Tensor | tf.Tensor[]);
  return info.kernels.map((k) => k.name);
}

/**
 * Runs `f` (async) and counts the calls that reach wasm's own kernel
 * `kernelName` (the one an override replaced), i.e. the override's fallbacks.
 */
export async function nativeCalls(kernelName: string, f: () => Promise<unknown>): Promise<number> {
  return (await nativeCallsOf([kernelName], f))[kernelName] ?? 0;
}

/** nativeCalls for several kernels at once. */
export async function nativeCallsOf(
  kernelNames: string[],
  f: () => Promise<unknown>,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const restore: (() => void)[] = [];
  for (const name of kernelNames) {
    const native = nativeWasmKernel(name);
    if (!native) throw new Error(`no native wasm kernel recorded for ${name}`);
    const saved = native.kernelFunc;
    counts[name] = 0;
    native.kernelFunc = (args) => {
      counts[name] = (counts[name] ?? 0) + 1;
      return saved(args);
    };
    restore.push(() => {
      native.kernelFunc = saved;
    });
  }
  try {
    await f();
  } finally {
    for (const r of restore) r();
  }
  return counts;
}

/**
 * Runs `f` on the active webgpu backend and lists the GPU programs it ran
 * (their shaderKeys, in order; one dispatch each), by wrapping the backend's
 * runWebGPUProgram for the duration.
 */
export async function webgpuProgramsRun<T>(
  f: () => Promise<T>,
): Promise<{ result: T; programs: string[] }> {
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const own = Object.hasOwn(backend, "runWebGPUProgram");
  const original = backend.runWebGPUProgram;
  const programs: string[] = [];
  backend.runWebGPUProgram = function (this: WebGpuBackendLike, program, ...rest) {
    programs.push(program.shaderKey);
    return original.call(this, program, ...rest);
  };
  try {
    return { result: await f(), programs };
  } finally {
    // Put back exactly what was there (usually: uncover the prototype's method).
    if (own) backend.runWebGPUProgram = original;
    else delete (backend as Partial<WebGpuBackendLike>).runWebGPUProgram;
  }
}

/** The number of GPU programs (dispatches) `f` runs on the active webgpu backend. */
export async function countWebgpuPrograms(f: () => Promise<unknown>): Promise<number> {
  return (await webgpuProgramsRun(f)).programs.length;
}
