/**
 * Where SGD Studio keeps what it makes (run library, checkpoints):
 * $SGD_STUDIO_HOME if set, else $XDG_DATA_HOME/sgd-studio, else the platform's
 * user-data folder (~/Library/Application Support/sgd-studio on macOS,
 * %APPDATA%\sgd-studio on Windows, ~/.local/share/sgd-studio elsewhere).
 */
import { homedir } from "node:os";
import { join } from "node:path";

export function defaultHomeDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (env.SGD_STUDIO_HOME) return env.SGD_STUDIO_HOME;
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "sgd-studio");
  if (platform === "darwin") return join(home, "Library", "Application Support", "sgd-studio");
  if (platform === "win32" && env.APPDATA) return join(env.APPDATA, "sgd-studio");
  return join(home, ".local", "share", "sgd-studio");
}
