/**
 * The project's kernel and gradient overrides, registered in one place.
 *
 * `registerKernelOverrides()` installs them; selectBackend calls it after
 * loading a backend's package. Idempotent. Each entry says what it fixes.
 *
 * Three kinds:
 * - "kernel": fills in a kernel a backend lacks; never replaces the
 *   backend's own (status "native" if it has one).
 * - "replace": replaces one backend's own kernel (wasm) with a faster one.
 *   The backend's kernel is kept (wasm-util.ts) and the override hands it
 *   the cases it does not cover; its setupFunc is carried over so that a
 *   backend initialised later still sets it up. Other backends are untouched.
 * - "gradient": a gradient function (the registry is shared by all
 *   backends; a gradient that is only faster on one backend branches on the
 *   active backend and keeps tfjs's computation elsewhere).
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
  unregisterKernel,
} from "@tensorflow/tfjs-core";
import type { KernelOverride } from "../../api/doctor.js";
import { batchNormGradConfig, wasmBatchNormGradStatsConfig } from "./batchnorm-grad.js";
import { cpuBatchNormTrainKernels } from "./batchnorm-train.js";
import { fusedUpdateKernels } from "./fused-update.js";
import { deviceMeanGradConfig } from "./mean-grad.js";
import { reluGradConfig, wasmReluGradConfig } from "./relu-grad.js";
import { softmaxXentGradConfig, softmaxXentKernels } from "./softmax-xent.js";
import { wasmBatchMatMulConfig, wasmFusedMatMulConfig } from "./wasm-batch-matmul.js";
import { wasmBatchNormTrainKernels } from "./wasm-batchnorm-train.js";
import { wasmConv2DBackpropFilterConfig } from "./wasm-conv2d-backprop-filter.js";
import { wasmConv2DBackpropInputConfig } from "./wasm-conv2d-backprop-input.js";
import {
  wasmAddConfig,
  wasmMultiplyConfig,
  wasmNegConfig,
  wasmRealDivConfig,
  wasmReluConfig,
  wasmSubConfig,
} from "./wasm-elementwise.js";
import { wasmFusedBatchNormConfig } from "./wasm-fused-batchnorm.js";
import { wasmCastConfig, wasmIdentityConfig } from "./wasm-identity.js";
import { wasmMaxPoolGradConfig } from "./wasm-maxpool-grad.js";
import { wasmMeanConfig, wasmSumConfig } from "./wasm-reduce.js";
import { wasmTileConfig } from "./wasm-tile.js";
import { rememberNativeKernel } from "./wasm-util.js";
import { webgpuBatchNormTrainKernels } from "./webgpu-batchnorm.js";
import { webgpuConv2DBackpropFilterConfig } from "./webgpu-conv2d-backprop-filter.js";

/** The plain type is declared in core/api/doctor.ts. */
export type { KernelOverride };

type Entry =
  | { kind: "kernel"; config: KernelConfig; why: string }
  | { kind: "replace"; config: KernelConfig; why: string }
  | { kind: "gradient"; config: GradConfig; why: string };

/** "kernel" entries (kernels the backends lack) for configs that share one reason. */
function kernelEntries(configs: readonly KernelConfig[], why: string): Entry[] {
  return configs.map((config) => ({ kind: "kernel", config, why }));
}

const OVERRIDES: Entry[] = [
  {
    kind: "kernel",
    config: wasmConv2DBackpropFilterConfig,
    why: "tfjs-backend-wasm has no Conv2DBackpropFilter, so conv nets cannot train on wasm",
  },
  {
    kind: "replace",
    config: wasmConv2DBackpropInputConfig,
    why: "wasm's own Conv2DBackpropInput is a plain loop, ~8x slower than its XNNPACK Conv2D; ours is a Conv2D of dy with the rotated filter (a matmul + col2im for narrow inputs)",
  },
  {
    kind: "replace",
    config: wasmMaxPoolGradConfig,
    why: "wasm's own MaxPoolGrad is ~3-4x slower than one pass over the windows in JS",
  },
  {
    kind: "replace",
    config: wasmBatchMatMulConfig,
    why: "wasm's BatchMatMul is ~12x slower with a transposed operand (every dense layer's gradients), repacks its right operand serially on every call and splits even tiny products over XNNPACK's thread pool; ours transposes explicitly, then (unbatched) runs a register-blocked f32x4 product on the kernel pool (inline when small)",
  },
  {
    kind: "replace",
    config: wasmFusedMatMulConfig,
    why: "a dense layer's fused product + bias (+ ReLU): our BatchMatMul, bias Add and Relu instead of XNNPACK's fully-connected operator on its thread pool (unbatched float32; anything else: wasm's own)",
  },
  {
    kind: "replace",
    config: wasmSumConfig,
    why: "wasm's Sum transposes the whole input unless it reduces the innermost axes (batch norm's and bias gradients reduce the leading ones)",
  },
  {
    kind: "replace",
    config: wasmMeanConfig,
    why: "wasm's Mean transposes the whole input unless it reduces the innermost axes (batch norm's moments reduce the leading ones)",
  },
  {
    kind: "replace",
    config: wasmFusedBatchNormConfig,
    why: "wasm's own FusedBatchNorm re-derives each parameter's index per element (~17-20 ms for the cnn's first activation); ours is one SIMD pass over the kernel pool's threads (~1 ms on one thread)",
  },
  {
    kind: "replace",
    config: wasmIdentityConfig,
    why: "wasm's Identity copies the tensor (~80 copies per cnn step); ours shares the data with a reference, as the cpu backend does",
  },
  {
    kind: "replace",
    config: wasmCastConfig,
    why: "wasm's Cast copies even to the same dtype (moments casts float32 to float32); ours shares the data then",
  },
  {
    kind: "replace",
    config: wasmReluConfig,
    why: "on the threaded build wasm's Relu goes to XNNPACK's thread pool even for a [128, 256] tensor, whose wake-up and wait cost more than the split saves (and stall when a thread is descheduled); ours is the kernel pool's SIMD loop, inline under 2^18 elements",
  },
  {
    kind: "replace",
    config: wasmAddConfig,
    why: "a dense layer's bias add, likewise: the kernel pool's SIMD loop instead of XNNPACK's thread pool (other small Adds: a JS loop on the calling thread; large ones: wasm's own kernel)",
  },
  ...([wasmSubConfig, wasmMultiplyConfig, wasmRealDivConfig, wasmNegConfig] as const).map(
    (config): Entry => ({
      kind: "replace",
      config,
      why: "on the threaded build wasm hands even a [128, 10] Sub / Multiply / RealDiv / Neg (softmax cross-entropy) to XNNPACK's thread pool, 0.2-0.5 ms each on 2 threads against ~0.01 ms on one, and its worker then spins for the next op through the whole step; ours runs tensors of up to 16 K elements in a JS loop on the calling thread (larger ones: wasm's own kernel)",
    }),
  ),
  {
    kind: "replace",
    config: wasmTileConfig,
    why: "wasm's own Tile computes every element's source index (~330 ms for a [128,28,28,32] broadcast); ours copies blocks",
  },
  {
    kind: "replace",
    config: webgpuConv2DBackpropFilterConfig,
    why: "webgpu's own Conv2DBackpropFilter reduces over every output position in one thread per filter element (84% of ResNet-18's GPU time on an H200); ours is one matmul over the im2col patch matrix, built on the device",
  },
  {
    kind: "kernel",
    config: wasmBatchNormGradStatsConfig,
    why: "one pass over x and dy for batch norm's per-channel gradient sums (used by the FusedBatchNorm gradient on wasm)",
  },
  ...kernelEntries(
    cpuBatchNormTrainKernels,
    "batch norm in training (batchnorm-train.ts) on cpu: moments, gradient sums, gradient coefficients and the input gradient, one kernel each, instead of ~55 small kernels per layer and step",
  ),
  ...kernelEntries(
    wasmBatchNormTrainKernels,
    "batch norm in training on wasm (wasm-batchnorm-train.ts): moments and the input gradient as passes on the kernel pool's threads, instead of ~12 activation-sized tfjs kernels per layer and step that run on one thread",
  ),
  ...kernelEntries(
    webgpuBatchNormTrainKernels,
    "batch norm in training on webgpu: the op's four kernels as WGSL programs (coalesced per-channel reductions in at most two dispatches; the others in one)",
  ),
  ...kernelEntries(
    fusedUpdateKernels,
    "a training step's bookkeeping in one kernel each (fused-update.ts): a * x + b * y for optimizer updates and moving averages (was Multiply + Sub with a fresh scalar upload), acc + sum(x^2) for the gradient norm (was Square + Sum + Add)",
  ),
  {
    kind: "gradient",
    config: batchNormGradConfig,
    why: "tfjs's FusedBatchNorm gradient tiles rsqrt(variance) to the activation's size (wasm's Tile is very slow) and sums several activation-sized temporaries; on wasm ours needs one pass and one broadcasting multiply",
  },
  {
    kind: "kernel",
    config: wasmReluGradConfig,
    why: "ReLU's gradient in one pass on the kernel pool (f32x4 WebAssembly), for the Relu gradient on wasm",
  },
  {
    kind: "gradient",
    config: reluGradConfig,
    why: "tfjs's Relu gradient is Step + Multiply, two activation-sized kernels that run on one thread on wasm; ours is one pass over the backend's threads there (tfjs's computation elsewhere)",
  },
  ...kernelEntries(
    softmaxXentKernels,
    "softmax cross-entropy and the correct count in one kernel, its gradient in one more (softmax-xent.ts), on cpu and wasm: tfjs's ops are ~40 tiny kernels per step on a [128, 10] batch, ~0.4 ms of tfjs bookkeeping per mlp step",
  ),
  {
    kind: "gradient",
    config: softmaxXentGradConfig,
    why: "the fused softmax cross-entropy's gradient: one kernel, dy * (softmax - labels) / N",
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
  if (k.kernelFunc === e.config.kernelFunc) return "registered";
  return e.kind === "kernel" ? "native" : "pending";
}

/** Replaces a backend's own kernel, keeping it (and its setup) for fallbacks. */
function replaceKernel(config: KernelConfig): void {
  const native = getKernel(config.kernelName, config.backendName);
  if (!native) return; // the backend's package is not loaded yet: nothing to replace
  if (native.kernelFunc === config.kernelFunc) return; // ours already
  rememberNativeKernel(native);
  unregisterKernel(config.kernelName, config.backendName);
  registerKernel({ ...config, setupFunc: native.setupFunc });
}

function describe(e: Entry): KernelOverride {
  return {
    kind: e.kind,
    kernelName: e.config.kernelName,
    backend: e.kind === "gradient" ? "*" : e.config.backendName,
    why: e.why,
    status: statusOf(e),
  };
}

/**
 * Registers every override and returns what is in effect. Idempotent, and
 * safe to call again after loading a package that re-registers tfjs's
 * default gradients (the tfjs-node packages bundle their own copy): a
 * gradient that was replaced is registered again. A backend's own kernel is
 * replaced only by "replace" entries (which keep it for their fallbacks).
 */
export function registerKernelOverrides(): KernelOverride[] {
  for (const e of OVERRIDES) {
    const status = statusOf(e);
    if (status !== "pending") continue;
    if (e.kind === "kernel") registerKernel(e.config);
    else if (e.kind === "replace") replaceKernel(e.config);
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
  im2colTransposed,
  MAX_PATCH_ELEMENTS,
  setPatchChunkLimit,
  wasmConv2DBackpropFilter,
  wasmConv2DBackpropFilterConfig,
} from "./wasm-conv2d-backprop-filter.js";
