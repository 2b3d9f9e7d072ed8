/**
 * The `wasmThreads` setting (settings.json) reaches the processes that run
 * the wasm backend through SGD_STUDIO_WASM_THREADS: training runs in a
 * worker process that inherits the host's environment, so the host sets the
 * variable from the setting (when the service starts and whenever the
 * setting changes). A variable the user set before the host started wins
 * over the setting; `train --threads` wins over both. No TensorFlow.js here:
 * the service loads this module eagerly.
 */

/** The variable that sets the wasm backend's thread count (docs/environment.md). */
export const WASM_THREADS_ENV = "SGD_STUDIO_WASM_THREADS";

/** Parses a thread count ("auto" or a whole number >= 1); null when invalid. */
export function parseThreads(text: string): number | "auto" | null {
  const t = text.trim().toLowerCase();
  if (t === "auto" || t === "") return "auto";
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n >= 1 ? n : null;
}

/** The variable as the user set it when this process started (undefined: not set). */
const fromUser = process.env[WASM_THREADS_ENV];
/** What applyWasmThreadsSetting last put in the environment. */
let applied: string | undefined;

/**
 * Puts the setting into this process's environment (inherited by training
 * workers started from now on): a number sets SGD_STUDIO_WASM_THREADS,
 * "auto" removes what an earlier call set. Returns false, changing nothing,
 * when the user set the variable before the process started.
 */
export function applyWasmThreadsSetting(
  value: number | "auto",
  env: Record<string, string | undefined> = process.env,
): boolean {
  if (fromUser !== undefined && env === process.env) return false;
  const text = value === "auto" ? undefined : String(value);
  if (text === undefined) {
    if (applied !== undefined && env[WASM_THREADS_ENV] === applied) delete env[WASM_THREADS_ENV];
  } else {
    env[WASM_THREADS_ENV] = text;
  }
  applied = text;
  return true;
}
