/**
 * Where SGD Studio keeps what it makes (run library, checkpoints):
 * $SGD_STUDIO_HOME if set, else $XDG_DATA_HOME/sgd-studio, else the platform's
 * user-data folder (~/Library/Application Support/sgd-studio on macOS,
 * %APPDATA%\sgd-studio on Windows, ~/.local/share/sgd-studio elsewhere).
 * A host's `--home <dir>` flag overrides all of these (see `resolveHome`).
 *
 * Inside the home folder:
 *   library.db                      the run library (SQLite, WAL: also library.db-wal, -shm)
 *   runs/<run id>/checkpoints/      that run's epoch checkpoints
 */
import { homedir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";

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

/** The home folder: a host's flag first, then the environment and platform defaults. */
export function resolveHome(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag || defaultHomeDir(env));
}

/** Run ids: letters, digits, '-' and '_' only, so an id is always a safe folder name. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isValidRunId(id: string): boolean {
  return RUN_ID_PATTERN.test(id);
}

/** True when `path` is `dir` or inside it (after resolving `..`). */
export function isInside(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

export interface LibraryPaths {
  home: string;
  db: string;
  runs: string;
}

export function libraryPaths(home: string): LibraryPaths {
  const root = resolve(home);
  return { home: root, db: join(root, "library.db"), runs: join(root, "runs") };
}

/** The folder of one run's files; refuses ids that could name anything outside the library. */
export function runDir(paths: LibraryPaths, id: string): string {
  if (!isValidRunId(id)) throw new Error(`invalid run id ${JSON.stringify(id)}`);
  const dir = join(paths.runs, id);
  if (!isInside(paths.runs, dir))
    throw new Error(`run id ${JSON.stringify(id)} escapes the library`);
  return dir;
}
