/**
 * PyTorch for the torch engine's tests: the interpreter the engine itself
 * would find (core/engine/torch/python.ts). Without one the tests skip with a
 * message, except under CI (CI=true; CI installs python3-torch), where they
 * fail with what was tried and the fix.
 */
import { it } from "vitest";
import { findTorchPython } from "../../core/engine/torch/python.js";

const discovery = await findTorchPython();
const python = discovery.found?.python;
const why = `no Python with PyTorch (Debian: apt-get install python3-torch; or set SGD_STUDIO_PYTHON). Tried: ${discovery.tried.map((t) => `${t.python}: ${t.error}`).join("; ")}`;

/** The Python with torch, if any (a test that needs it calls requireTorch). */
export const torchPython: string | undefined = python;

/** `it`, skipped (with a warning, once per file) when there is no torch outside CI. */
export function torchTests(what: string): typeof it {
  if (!python && !process.env.CI) console.warn(`skipping ${what}: ${why}`);
  return it.skipIf(!python && !process.env.CI) as typeof it;
}

/** The Python with torch; under CI without one, an error with what was tried. */
export function requireTorch(): string {
  if (!python) throw new Error(`PyTorch is required under CI (python3-torch): ${why}`);
  return python;
}
