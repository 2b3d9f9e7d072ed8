/**
 * The backend report (`sgd-studio doctor --json`, the service's
 * `system.backends`): plain types; core/engine/backends.ts makes it.
 */
import type { BackendName } from "./lists.js";

export interface BackendProbe {
  name: BackendName;
  /** Name the backend registers under in tfjs ("tensorflow" for both tfjs-node packages). */
  tfjsName: string;
  /** The npm package that provides it. */
  packageName: string;
  /** It can be loaded and initialised here. */
  available: boolean;
  /**
   * Automatic selection may pick it. False for unavailable rungs and for a
   * software WebGPU adapter (lavapipe & co. work but are slower than wasm).
   */
  autoSelect: boolean;
  /** Why it is not available (or the caveat when it is). */
  reason?: string;
  /** What to do about it, concretely. */
  fix?: string;
  /** What was found: adapter info, GPUs, libraries, versions. */
  details: Record<string, unknown>;
}

/** One of the project's kernel or gradient overrides (core/engine/kernels). */
export interface KernelOverride {
  /**
   * "kernel" (a kernel one backend lacks), "replace" (replaces one backend's
   * own kernel) or "gradient" (all backends).
   */
  kind: "kernel" | "replace" | "gradient";
  kernelName: string;
  /** Backend the kernel is for; "*" for gradients. */
  backend: string;
  why: string;
  /**
   * "registered": ours is in effect. "native": the backend already has its
   * own kernel, so ours was not installed ("kernel" entries only).
   * "pending": not registered yet (registerKernelOverrides has not run in
   * this process, or, for "replace", the backend's package is not loaded).
   */
  status: "registered" | "native" | "pending";
}

export interface DoctorJson {
  generatedAt: string;
  node: string;
  platform: string;
  arch: string;
  tfjsCore: string;
  /** Best rung automatic selection would use. */
  recommended: BackendName | null;
  /** tf.getBackend() when the report was made ("" when none is active). */
  activeBackend: string;
  backends: BackendProbe[];
  kernelOverrides: KernelOverride[];
  env: Record<string, string | null>;
}
