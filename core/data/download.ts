/**
 * Downloads a file into the cache directory with Node's http/https:
 * progress callbacks, resume of a partial `<name>.part` with an HTTP Range
 * request (a server that answers 200 instead of 206 gets the transfer
 * restarted from zero), retries after dropped connections, redirects,
 * SHA-256/MD5 verification (a mismatch deletes the file and errors with the
 * expected and found hashes) and an atomic rename when complete.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, stat, truncate, unlink } from "node:fs/promises";
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { defaultCacheDir } from "./cache-dir.js";
import { fmt } from "./errors.js";

export interface DownloadProgress {
  /** Bytes of the file on disk so far (including a resumed prefix). */
  readonly bytes: number;
  /** Full file size when the server said, else null. */
  readonly total: number | null;
  /** Transfer rate of the current request, bytes per second. */
  readonly rate: number;
  /** Bytes that were already on disk when the current request started. */
  readonly resumedFrom: number;
  /** True on the last event of a completed transfer. */
  readonly done: boolean;
}

export interface DownloadOptions {
  /** Folder to download into (default: defaultCacheDir()). */
  readonly cacheDir?: string;
  /** File name in the cache folder (default: the URL's last path segment). */
  readonly fileName?: string;
  /** Expected hex SHA-256 of the whole file. */
  readonly sha256?: string;
  /** Expected hex MD5 of the whole file. */
  readonly md5?: string;
  readonly onProgress?: (p: DownloadProgress) => void;
  /** Minimum time between progress events, ms (default 100; 0: every chunk). */
  readonly progressIntervalMs?: number;
  /** How often to resume after a dropped connection (default 3). */
  readonly retries?: number;
  /** Delay before a retry, ms (default 500). */
  readonly retryDelayMs?: number;
  /** Give up when no data arrives for this long, ms (default 30,000). */
  readonly idleTimeoutMs?: number;
  readonly maxRedirects?: number;
  readonly signal?: AbortSignal;
}

export class DownloadError extends Error {
  readonly url: string;
  readonly status: number | undefined;
  /** True for failures worth retrying (network errors, dropped connections, 5xx). */
  readonly retryable: boolean;
  constructor(
    message: string,
    url: string,
    opts: { status?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "DownloadError";
    this.url = url;
    this.status = opts.status;
    this.retryable = opts.retryable ?? false;
  }
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/** Hex digest of a file. */
export async function hashFile(path: string, algorithm: "sha256" | "md5"): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }))
    h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Null when the file matches every given checksum, else a description of the mismatch. */
async function checksumProblem(path: string, opts: DownloadOptions): Promise<string | null> {
  for (const algorithm of ["sha256", "md5"] as const) {
    const expected = opts[algorithm]?.toLowerCase();
    if (!expected) continue;
    const found = await hashFile(path, algorithm);
    if (found !== expected)
      return `checksum mismatch: expected ${algorithm} ${expected}, found ${found}`;
  }
  return null;
}

function get(
  url: string,
  headers: Record<string, string>,
  opts: DownloadOptions,
): Promise<{ res: IncomingMessage; req: ClientRequest }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const fn = u.protocol === "https:" ? httpsRequest : u.protocol === "http:" ? httpRequest : null;
    if (!fn) {
      reject(new DownloadError(`unsupported protocol ${u.protocol} (use http or https)`, url));
      return;
    }
    const req = fn(u, { headers: { "user-agent": "sgd-studio", ...headers }, signal: opts.signal });
    req.setTimeout(opts.idleTimeoutMs ?? 30_000, () => {
      req.destroy(new Error(`no data for ${(opts.idleTimeoutMs ?? 30_000) / 1000} s`));
    });
    req.on("response", (res) => resolve({ res, req }));
    req.on("error", (err) =>
      reject(
        new DownloadError(`request failed: ${err.message}`, url, {
          retryable: (err as Error).name !== "AbortError",
          cause: err,
        }),
      ),
    );
    req.end();
  });
}

/** Follows redirects; returns the final response. */
async function getFollowing(
  url: string,
  headers: Record<string, string>,
  opts: DownloadOptions,
): Promise<{ res: IncomingMessage; req: ClientRequest; url: string }> {
  let current = url;
  for (let hop = 0; hop <= (opts.maxRedirects ?? 5); hop++) {
    const { res, req } = await get(current, headers, opts);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, current).toString();
      continue;
    }
    return { res, req, url: current };
  }
  throw new DownloadError(`too many redirects (more than ${opts.maxRedirects ?? 5})`, url);
}

/** One request: appends to (or restarts) the .part file. Resolves when the body is complete. */
async function transfer(url: string, part: string, opts: DownloadOptions): Promise<void> {
  const have = (await sizeOf(part)) ?? 0;
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  const { res, url: finalUrl } = await getFollowing(url, headers, opts);
  const status = res.statusCode ?? 0;

  let offset: number;
  let total: number | null;
  const length = res.headers["content-length"] ? Number(res.headers["content-length"]) : null;
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers["content-range"] ?? "");
    if (!m || Number(m[1]) !== have) {
      // Not the range we asked for: start over without Range.
      res.resume();
      await truncate(part, 0);
      return transfer(url, part, opts);
    }
    offset = have;
    total = m[3] === "*" ? null : Number(m[3]);
  } else if (status === 200) {
    offset = 0; // no Range support (or a fresh start): the body is the whole file
    total = length;
  } else if (status === 416 && have > 0) {
    // Range not satisfiable: the .part may already be complete, or bigger than the file.
    res.resume();
    const m = /^bytes \*\/(\d+)$/.exec(res.headers["content-range"] ?? "");
    if (m && Number(m[1]) === have) return;
    await truncate(part, 0);
    return transfer(url, part, opts);
  } else {
    res.resume();
    throw new DownloadError(
      `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ""} for ${finalUrl}`,
      url,
      {
        status,
        retryable: status >= 500,
      },
    );
  }

  let bytes = offset;
  const start = Date.now();
  let last = 0;
  const interval = opts.progressIntervalMs ?? 100;
  const report = (done: boolean) => {
    const now = Date.now();
    if (!opts.onProgress || (!done && now - last < interval)) return;
    last = now;
    const secs = Math.max((now - start) / 1000, 1e-3);
    opts.onProgress({ bytes, total, rate: (bytes - offset) / secs, resumedFrom: offset, done });
  };
  try {
    await pipeline(
      res,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytes += chunk.length;
          report(false);
          yield chunk;
        }
      },
      createWriteStream(part, { flags: offset > 0 ? "a" : "w" }),
    );
  } catch (err) {
    throw new DownloadError(
      `connection lost after ${fmt(bytes)}${total !== null ? ` of ${fmt(total)}` : ""} bytes (${(err as Error).message}); the partial file ${part} is kept to resume`,
      url,
      { retryable: (err as Error).name !== "AbortError", cause: err },
    );
  }
  const expectedEnd = length !== null ? offset + length : total;
  if (expectedEnd !== null && bytes !== expectedEnd) {
    throw new DownloadError(
      `connection lost after ${fmt(bytes)} of ${fmt(expectedEnd)} bytes; the partial file ${part} is kept to resume`,
      url,
      { retryable: true },
    );
  }
  report(true);
}

/**
 * Downloads `url` into the cache folder unless a verified copy is already
 * there, and returns the file's path. Checksums are verified whenever given;
 * a cached file that fails them is deleted and fetched again.
 */
export async function download(url: string, opts: DownloadOptions = {}): Promise<string> {
  const dir = opts.cacheDir ?? defaultCacheDir();
  const name = opts.fileName ?? basename(new URL(url).pathname);
  if (!name) throw new DownloadError("cannot tell a file name from the URL; pass fileName", url);
  const dest = join(dir, name);
  const part = `${dest}.part`;
  await mkdir(dir, { recursive: true });

  if ((await sizeOf(dest)) !== null) {
    if ((await checksumProblem(dest, opts)) === null) return dest;
    await unlink(dest);
  }

  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      await transfer(url, part, opts);
      break;
    } catch (err) {
      const retryable = err instanceof DownloadError && err.retryable && !opts.signal?.aborted;
      if (!retryable || attempt >= retries) throw err;
      await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 500));
    }
  }

  const problem = await checksumProblem(part, opts);
  if (problem) {
    await unlink(part).catch(() => {});
    throw new DownloadError(`${dest}: ${problem} (the download was deleted; try again)`, url);
  }
  await rename(part, dest);
  return dest;
}
