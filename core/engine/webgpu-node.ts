/**
 * WebGPU in Node through Dawn (the `webgpu` package).
 *
 * @tensorflow/tfjs-backend-webgpu registers its backend at import time only
 * if `navigator.gpu` exists, and uses the GPUBufferUsage/GPUMapMode/...
 * globals, so both must be installed on globalThis *before* that import.
 * Remember: in Node, read webgpu tensors with `await t.data()`, never
 * `dataSync()`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** The subset of the WebGPU API the probe needs (no @webgpu/types dependency). */
export interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}
export interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean } & Iterable<string>;
  limits: Record<string, unknown>;
}
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}

interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

let dawnGpu: GpuLike | null = null;

/**
 * Mesa's lavapipe and Dawn want a per-user runtime directory; CI containers
 * often have none. Creates a private temp dir when XDG_RUNTIME_DIR is unset.
 * Returns the directory in use.
 */
export function ensureXdgRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const current = env.XDG_RUNTIME_DIR;
  if (current) return current;
  const dir = mkdtempSync(path.join(tmpdir(), "sgd-studio-xdg-"));
  env.XDG_RUNTIME_DIR = dir;
  return dir;
}

/** Loads Dawn once, installs navigator.gpu and the WebGPU globals. */
export async function getDawnGpu(): Promise<GpuLike> {
  if (dawnGpu) return dawnGpu;
  ensureXdgRuntimeDir();
  const mod = (await import("webgpu")) as unknown as DawnModule;
  const gpu = mod.create([]);
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  installNavigatorGpu(gpu);
  dawnGpu = gpu;
  return gpu;
}

function installNavigatorGpu(gpu: GpuLike): void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  const nav = g.navigator;
  if (nav && typeof nav === "object") {
    // Node >= 21 has a built-in navigator (a getter on globalThis).
    if (nav.gpu === gpu) return;
    try {
      Object.defineProperty(nav, "gpu", { value: gpu, configurable: true, writable: true });
      if (nav.gpu === gpu) return;
    } catch {
      // fall through and replace navigator
    }
  }
  Object.defineProperty(globalThis, "navigator", {
    value: { ...(nav ?? {}), gpu },
    configurable: true,
    writable: true,
  });
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** CPU implementation (lavapipe/llvmpipe, SwiftShader, WARP, fallback). */
  software: boolean;
  features: string[];
  limits: Record<string, number>;
}

const LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupsPerDimension",
] as const;

export function isSoftwareAdapter(info: GpuAdapterInfoLike, isFallback?: boolean): boolean {
  if (isFallback) return true;
  if ((info.architecture ?? "").toLowerCase() === "software") return true;
  const text = `${info.vendor ?? ""} ${info.device ?? ""} ${info.description ?? ""}`.toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|\bwarp\b|microsoft basic render/.test(text);
}

export function summarizeAdapter(adapter: GpuAdapterLike): AdapterSummary {
  const info = adapter.info ?? {};
  const limits: Record<string, number> = {};
  for (const name of LIMITS) {
    const v = adapter.limits[name];
    if (typeof v === "number") limits[name] = v;
  }
  return {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
    software: isSoftwareAdapter(info, adapter.isFallbackAdapter),
    features: [...adapter.features].sort(),
    limits,
  };
}
