/**
 * The project's kernel and gradient overrides, registered in one place.
 *
 * `registerKernelOverrides()` installs them; selectBackend calls it after
 * loading a backend's package. Idempotent. Each entry says what it fixes.
 */
// tfjs-core's CommonJS build registers no gradients; tfjs-layers' bundle
// registers all of tfjs's default gradients (into the process-global
// registry) when it is first evaluated. Import it first so that ours, set
// below, are not overwritten by that registration.
import "@tensorflow/tfjs-layers";
import {
  type GradConfig,
  getGradient,
  getKernel,
  type KernelConfig,
  registerGradient,
  registerKernel,
} from "@tensorflow/tfjs-core";
import { deviceMeanGradConfig } from "./mean-grad.js";
import { wasmConv2DBackpropFilterConfig } from "./wasm-conv2d-backprop-filter.js";

export interface KernelOverride {
  /** "kernel" (one backend's forward kernel) or "gradient" (all backends). */
  kind: "kernel" | "gradient";
  kernelName: string;
  /** Backend the kernel is for; "*" for gradients. */
  backend: string;
  why: string;
  /**
   * "registered": ours is in effect. "native": the backend already has its
   * own kernel, so ours was not installed. "pending": not registered yet
   * (registerKernelOverrides has not run in this process).
   */
  status: "registered" | "native" | "pending";
}

type Entry =
  | { kind: "kernel"; config: KernelConfig; why: string }
  | { kind: "gradient"; config: GradConfig; why: string };

const OVERRIDES: Entry[] = [
  {
    kind: "kernel",
    config: wasmConv2DBackpropFilterConfig,
    why: "tfjs-backend-wasm has no Conv2DBackpropFilter, so conv nets cannot train on wasm",
  },
  {
    kind: "gradient",
    config: deviceMeanGradConfig,
    why: "tfjs's Mean gradient builds a host-side ones(x.shape) array every step (batch norm calls Mean); ours broadcasts dy/n on the device",
  },
];

let registeredOnce = false;

function statusOf(e: Entry): KernelOverride["status"] {
  if (e.kind === "gradient") {
    return getGradient(e.config.kernelName) === e.config ? "registered" : "pending";
  }
  const k = getKernel(e.config.kernelName, e.config.backendName);
  if (!k) return "pending";
  return k.kernelFunc === e.config.kernelFunc ? "registered" : "native";
}

function describe(e: Entry): KernelOverride {
  return {
    kind: e.kind,
    kernelName: e.config.kernelName,
    backend: e.kind === "kernel" ? e.config.backendName : "*",
    why: e.why,
    status: statusOf(e),
  };
}

/**
 * Registers every override and returns what is in effect. Idempotent, and
 * safe to call again after loading a package that re-registers tfjs's
 * default gradients (the tfjs-node packages bundle their own copy): a
 * gradient that was replaced is registered again. A backend's own kernel is
 * never replaced.
 */
export function registerKernelOverrides(): KernelOverride[] {
  for (const e of OVERRIDES) {
    const status = statusOf(e);
    if (status !== "pending") continue;
    if (e.kind === "kernel") registerKernel(e.config);
    else registerGradient(e.config);
  }
  registeredOnce = true;
  return listKernelOverrides();
}

/** The overrides and their status in this process. */
export function listKernelOverrides(): KernelOverride[] {
  return OVERRIDES.map(describe);
}

/** Whether registerKernelOverrides has run in this process. */
export function kernelOverridesRegistered(): boolean {
  return registeredOnce;
}

export { deviceMeanGradConfig } from "./mean-grad.js";
export {
  im2colRows,
  MAX_PATCH_ELEMENTS,
  setPatchChunkLimit,
  wasmConv2DBackpropFilter,
  wasmConv2DBackpropFilterConfig,
} from "./wasm-conv2d-backprop-filter.js";
