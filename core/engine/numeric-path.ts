/**
 * The numeric path of a run: which of the project's kernels and which
 * numeric knobs were in force when it trained, so that runs that took
 * different paths (an A/B benchmark with a fused kernel switched off, tfjs
 * flags, another backend) can be told apart in the library. The trainer puts
 * it in its "start" event (`numericPath`) and the recorder keeps it in the
 * run's environment (environment_json.numericPath).
 *
 * The values are the effective ones, read from the kernels' own state, not
 * only the environment: e.g. fused batch norm is off on a backend without
 * its kernels whatever SGD_STUDIO_FUSED_BATCH_NORM says (wasm has them
 * since issue 19; tfjs-node has none), and the kernels read their variables
 * once, when they are loaded. Every field is always present and never null,
 * and variable-length parts are arrays, so that the recorder's JSON merge
 * patch of a resumed run's environment replaces the old path exactly.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NumericPath } from "../api/events.js";
import type { BackendSelection } from "./backends.js";
import { batchNormTrainAvailable } from "./kernels/batchnorm-train.js";
import { AXPBY, fusedUpdateAvailable, SUM_SQUARES_ADD } from "./kernels/fused-update.js";
import { type FilterSplit, setWebgpuFilterSplit } from "./kernels/webgpu-conv2d-backprop-filter.js";
import { WASM_THREADS_ENV, wasmThreadsState } from "./wasm-threads.js";

/** The SGD_STUDIO_* variables that change a run's numerics (docs/environment.md). */
export const NUMERIC_ENV_VARS = [
  "SGD_STUDIO_FUSED_BATCH_NORM",
  "SGD_STUDIO_FUSED_UPDATE",
  "SGD_STUDIO_FUSED_LOSS",
  "SGD_STUDIO_WEBGPU_FILTER_SPLIT",
  "SGD_STUDIO_TFJS_FLAGS",
  WASM_THREADS_ENV,
] as const;

/** The record's type is declared in core/api/events.ts (it travels in the start event). */
export type { NumericPath };

/** The filter split in force (setWebgpuFilterSplit returns the previous one; put it back). */
function currentFilterSplit(): FilterSplit {
  const split = setWebgpuFilterSplit("auto");
  setWebgpuFilterSplit(split);
  return split;
}

function fusedBatchNormOn(): boolean {
  const x = tf.zeros([1, 1], "float32");
  try {
    return batchNormTrainAvailable(x);
  } finally {
    x.dispose();
  }
}

/**
 * The numeric path of training on `selection` (what selectBackend returned;
 * its backend must still be the active one).
 */
export function numericPath(
  selection: Pick<BackendSelection, "name" | "tfjsBackend" | "flags" | "overrides">,
  env: Record<string, string | undefined> = process.env,
): NumericPath {
  const tfjsBackend = tf.getBackend();
  if (tfjsBackend !== selection.tfjsBackend) {
    throw new Error(
      `numericPath: the active backend is ${tfjsBackend}, not the selected ${selection.tfjsBackend}`,
    );
  }
  return {
    version: 1,
    backend: selection.name,
    tfjsBackend,
    tfjsCore: tf.version_core,
    fusedBatchNorm: fusedBatchNormOn(),
    fusedUpdate: fusedUpdateAvailable(AXPBY) && fusedUpdateAvailable(SUM_SQUARES_ADD),
    webgpuFilterSplit: tfjsBackend === "webgpu" ? currentFilterSplit() : "unused",
    wasmThreads: tfjsBackend === "wasm" ? (wasmThreadsState().active ?? 1) : "unused",
    tfjsFlags: Object.entries(selection.flags.set)
      .map(([k, v]) => `${k}=${v}`)
      .sort(),
    kernelOverrides: selection.overrides
      .filter((o) => o.status === "registered" && (o.backend === tfjsBackend || o.backend === "*"))
      .map((o) => `${o.kind} ${o.kernelName}`)
      .sort(),
    env: NUMERIC_ENV_VARS.filter((k) => env[k] !== undefined)
      .map((k) => `${k}=${env[k]}`)
      .sort(),
  };
}
