/**
 * Where downloads are cached: $SGD_STUDIO_CACHE_DIR if set, else
 * $XDG_CACHE_HOME/sgd-studio, else the platform's cache folder
 * (~/Library/Caches/sgd-studio on macOS, %LOCALAPPDATA%\sgd-studio\Cache on
 * Windows, ~/.cache/sgd-studio elsewhere).
 */
import { homedir } from "node:os";
import { join } from "node:path";

export function defaultCacheDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (env.SGD_STUDIO_CACHE_DIR) return env.SGD_STUDIO_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "sgd-studio");
  if (platform === "darwin") return join(home, "Library", "Caches", "sgd-studio");
  if (platform === "win32" && env.LOCALAPPDATA)
    return join(env.LOCALAPPDATA, "sgd-studio", "Cache");
  return join(home, ".cache", "sgd-studio");
}
