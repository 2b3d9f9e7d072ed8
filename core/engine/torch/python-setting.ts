/**
 * The `pythonPath` setting (settings.json) reaches the training worker
 * through SGD_STUDIO_PYTHON, as wasmThreads does (wasm-threads-setting.ts):
 * the host sets the variable from the setting when the service starts and
 * whenever it changes; a variable the user set before the host started wins.
 * No imports: the service loads this module eagerly.
 */

/** The variable naming the torch engine's Python (python.ts reads it; docs/environment.md). */
export const PYTHON_SETTING_ENV = "SGD_STUDIO_PYTHON";

const fromUser = process.env[PYTHON_SETTING_ENV];
let applied: string | undefined;

/**
 * Puts the setting into this process's environment (inherited by training
 * workers started from now on); null removes what an earlier call set.
 * Returns false, changing nothing, when the user set the variable first.
 */
export function applyPythonSetting(
  value: string | null,
  env: Record<string, string | undefined> = process.env,
): boolean {
  if (fromUser !== undefined && env === process.env) return false;
  const text = value?.trim() || undefined;
  if (text === undefined) {
    if (applied !== undefined && env[PYTHON_SETTING_ENV] === applied)
      delete env[PYTHON_SETTING_ENV];
  } else env[PYTHON_SETTING_ENV] = text;
  applied = text;
  return true;
}
