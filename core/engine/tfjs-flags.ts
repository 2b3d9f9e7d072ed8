/**
 * tfjs environment flags from SGD_STUDIO_TFJS_FLAGS, for A/B benchmark runs
 * on a GPU (bench/gpu/run.sh), e.g.
 *
 *   SGD_STUDIO_TFJS_FLAGS="WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64,WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE=false"
 *
 * Applied by selectBackend after the backend's package is loaded (a backend
 * registers its flags when it is imported). A flag that no loaded package
 * registered is reported, not set.
 */
import * as tf from "@tensorflow/tfjs-core";

export type FlagValue = boolean | number | string;

/** "A=1,B=true" -> { A: 1, B: true }. Throws on an entry without "=". */
export function parseTfjsFlags(text: string): Record<string, FlagValue> {
  const flags: Record<string, FlagValue> = {};
  for (const part of text.split(",")) {
    const entry = part.trim();
    if (!entry) continue;
    const eq = entry.indexOf("=");
    if (eq <= 0) {
      throw new Error(
        `SGD_STUDIO_TFJS_FLAGS: "${entry}" is not NAME=value (e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64)`,
      );
    }
    const name = entry.slice(0, eq).trim();
    const raw = entry.slice(eq + 1).trim();
    flags[name] =
      raw === "true"
        ? true
        : raw === "false"
          ? false
          : raw !== "" && Number.isFinite(Number(raw))
            ? Number(raw)
            : raw;
  }
  return flags;
}

export interface AppliedFlags {
  set: Record<string, FlagValue>;
  /** Flags no loaded tfjs package knows, with tfjs's message. */
  unknown: Record<string, string>;
}

/** Sets the flags on tf.env(); returns what was set and what was not. */
export function applyTfjsFlags(text = process.env.SGD_STUDIO_TFJS_FLAGS ?? ""): AppliedFlags {
  const result: AppliedFlags = { set: {}, unknown: {} };
  for (const [name, value] of Object.entries(parseTfjsFlags(text))) {
    try {
      tf.env().set(name, value);
      result.set[name] = value;
    } catch (e) {
      result.unknown[name] = (e as Error).message;
    }
  }
  return result;
}
