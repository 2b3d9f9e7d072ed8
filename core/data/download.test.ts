import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { defaultCacheDir } from "./cache-dir.js";
import { type DownloadProgress, download } from "./download.js";
import { Rng } from "./rng.js";

const LEN = 300_000;
const data = (() => {
  const r = Rng.from("download-data");
  const b = Buffer.alloc(LEN);
  for (let i = 0; i < LEN; i++) b[i] = r.int(256);
  return b;
})();
const sha256 = createHash("sha256").update(data).digest("hex");
const md5 = createHash("md5").update(data).digest("hex");

interface Hit {
  path: string;
  range: string | undefined;
  status: number;
}
let log: Hit[] = [];
let drops = 0; // how many more /drop.bin requests to cut off half-way

function serveRange(
  req: import("node:http").IncomingMessage,
  res: import("node:http").ServerResponse,
  path: string,
): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  if (!m) {
    log.push({ path, range: req.headers.range, status: 200 });
    res.writeHead(200, { "content-length": LEN, "accept-ranges": "bytes" });
    res.end(data);
    return;
  }
  const start = Number(m[1]);
  if (start >= LEN) {
    log.push({ path, range: req.headers.range, status: 416 });
    res.writeHead(416, { "content-range": `bytes */${LEN}` });
    res.end();
    return;
  }
  log.push({ path, range: req.headers.range, status: 206 });
  res.writeHead(206, {
    "content-range": `bytes ${start}-${LEN - 1}/${LEN}`,
    "content-length": LEN - start,
  });
  res.end(data.subarray(start));
}

let server: Server;
let base = "";
beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/file.bin") return serveRange(req, res, path);
    if (path === "/drop.bin") {
      if (drops > 0) {
        drops--;
        log.push({ path, range: req.headers.range, status: -1 });
        res.writeHead(200, { "content-length": LEN });
        // Send half, then cut the connection.
        res.write(data.subarray(0, LEN / 2), () => setTimeout(() => res.socket?.destroy(), 30));
        return;
      }
      return serveRange(req, res, path);
    }
    if (path === "/norange.bin") {
      log.push({ path, range: req.headers.range, status: 200 });
      res.writeHead(200, { "content-length": LEN });
      res.end(data);
      return;
    }
    if (path === "/redirect") {
      log.push({ path, range: req.headers.range, status: 302 });
      res.writeHead(302, { location: "/file.bin" });
      res.end();
      return;
    }
    if (path === "/error500") {
      log.push({ path, range: req.headers.range, status: 500 });
      res.writeHead(500);
      res.end("oops");
      return;
    }
    log.push({ path, range: req.headers.range, status: 404 });
    res.writeHead(404);
    res.end("not found");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

let cacheDir = "";
const dirs: string[] = [];
beforeEach(() => {
  log = [];
  drops = 0;
  cacheDir = mkdtempSync(join(tmpdir(), "sgd-dl-"));
  dirs.push(cacheDir);
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const fast = { retryDelayMs: 10, progressIntervalMs: 0 };

describe("download", () => {
  it("downloads into the cache folder with progress events and checksums", async () => {
    const events: DownloadProgress[] = [];
    const file = await download(`${base}/file.bin`, {
      cacheDir,
      sha256,
      md5,
      ...fast,
      onProgress: (p) => events.push(p),
    });
    expect(file).toBe(join(cacheDir, "file.bin"));
    expect(readFileSync(file).equals(data)).toBe(true);
    expect(existsSync(`${file}.part`)).toBe(false);
    expect(events.length).toBeGreaterThan(1);
    for (let i = 1; i < events.length; i++) {
      expect((events[i] as DownloadProgress).bytes).toBeGreaterThanOrEqual(
        (events[i - 1] as DownloadProgress).bytes,
      );
    }
    const last = events.at(-1) as DownloadProgress;
    expect(last).toMatchObject({ bytes: LEN, total: LEN, done: true, resumedFrom: 0 });
    expect(last.rate).toBeGreaterThan(0);
    expect(events.filter((e) => e.done)).toHaveLength(1);
  });

  it("reuses a verified cached file without a request", async () => {
    await download(`${base}/file.bin`, { cacheDir, sha256, ...fast });
    expect(log).toHaveLength(1);
    await download(`${base}/file.bin`, { cacheDir, sha256, ...fast });
    expect(log).toHaveLength(1);
    // A cached file that fails its checksum is fetched again.
    writeFileSync(join(cacheDir, "file.bin"), "garbage");
    const f = await download(`${base}/file.bin`, { cacheDir, sha256, ...fast });
    expect(log).toHaveLength(2);
    expect(readFileSync(f).equals(data)).toBe(true);
  });

  it("deletes the file and names file, expected and found hash on a checksum mismatch", async () => {
    const wrong = "0".repeat(64);
    const err = await download(`${base}/file.bin`, { cacheDir, sha256: wrong, ...fast }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(
      `${join(cacheDir, "file.bin")}: checksum mismatch: expected sha256 ${wrong}, found ${sha256} (the download was deleted; try again)`,
    );
    expect(existsSync(join(cacheDir, "file.bin"))).toBe(false);
    expect(existsSync(join(cacheDir, "file.bin.part"))).toBe(false);
    const md5err = await download(`${base}/file.bin`, {
      cacheDir,
      md5: "f".repeat(32),
      ...fast,
    }).catch((e) => e);
    expect(md5err.message).toMatch(`expected md5 ${"f".repeat(32)}, found ${md5}`);
  });

  it("reports a 404 without retrying", async () => {
    const err = await download(`${base}/missing.bin`, { cacheDir, ...fast }).catch((e) => e);
    expect(err.message).toBe(`HTTP 404 Not Found for ${base}/missing.bin`);
    expect(err.status).toBe(404);
    expect(log).toHaveLength(1);
    expect(existsSync(join(cacheDir, "missing.bin"))).toBe(false);
  });

  it("retries server errors, then gives up", async () => {
    const err = await download(`${base}/error500`, {
      cacheDir,
      fileName: "x",
      retries: 2,
      ...fast,
    }).catch((e) => e);
    expect(err.message).toMatch(/HTTP 500/);
    expect(log.map((h) => h.status)).toEqual([500, 500, 500]);
  });

  it("keeps the .part of an interrupted transfer and resumes it with a Range request", async () => {
    drops = 1;
    const err = await download(`${base}/drop.bin`, { cacheDir, sha256, retries: 0, ...fast }).catch(
      (e) => e,
    );
    expect(err.message).toMatch(/connection lost after [\d,]+ of 300,000 bytes.*kept to resume/);
    const part = join(cacheDir, "drop.bin.part");
    const have = statSync(part).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThanOrEqual(LEN / 2);
    expect(readFileSync(part).equals(data.subarray(0, have))).toBe(true);

    const events: DownloadProgress[] = [];
    const file = await download(`${base}/drop.bin`, {
      cacheDir,
      sha256,
      ...fast,
      onProgress: (p) => events.push(p),
    });
    expect(log.at(-1)).toEqual({ path: "/drop.bin", range: `bytes=${have}-`, status: 206 });
    expect(events[0]?.resumedFrom).toBe(have);
    expect(events.at(-1)).toMatchObject({ bytes: LEN, total: LEN, done: true });
    expect(readFileSync(file).equals(data)).toBe(true);
    expect(existsSync(part)).toBe(false);
  });

  it("resumes automatically after a dropped connection", async () => {
    drops = 1;
    const file = await download(`${base}/drop.bin`, { cacheDir, sha256, ...fast });
    expect(readFileSync(file).equals(data)).toBe(true);
    expect(log).toHaveLength(2);
    expect(log[0]?.range).toBeUndefined();
    expect(log[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(log[1]?.status).toBe(206);
  });

  it("restarts when the server ignores Range and answers 200", async () => {
    writeFileSync(join(cacheDir, "norange.bin.part"), Buffer.alloc(1000, 0xee));
    const events: DownloadProgress[] = [];
    const file = await download(`${base}/norange.bin`, {
      cacheDir,
      sha256,
      ...fast,
      onProgress: (p) => events.push(p),
    });
    expect(log).toEqual([{ path: "/norange.bin", range: "bytes=1000-", status: 200 }]);
    expect(events[0]?.resumedFrom).toBe(0);
    expect(readFileSync(file).equals(data)).toBe(true);
  });

  it("accepts a complete .part when the server answers 416", async () => {
    writeFileSync(join(cacheDir, "file.bin.part"), data);
    const file = await download(`${base}/file.bin`, { cacheDir, sha256, ...fast });
    expect(log).toEqual([{ path: "/file.bin", range: `bytes=${LEN}-`, status: 416 }]);
    expect(readFileSync(file).equals(data)).toBe(true);
  });

  it("follows redirects", async () => {
    const file = await download(`${base}/redirect`, {
      cacheDir,
      fileName: "r.bin",
      sha256,
      ...fast,
    });
    expect(log.map((h) => h.status)).toEqual([302, 200]);
    expect(readFileSync(file).equals(data)).toBe(true);
  });
});

describe("defaultCacheDir", () => {
  it("honours SGD_STUDIO_CACHE_DIR, then XDG_CACHE_HOME, then the platform default", () => {
    expect(
      defaultCacheDir({ SGD_STUDIO_CACHE_DIR: "/c", XDG_CACHE_HOME: "/x" }, "linux", "/home/u"),
    ).toBe("/c");
    expect(defaultCacheDir({ XDG_CACHE_HOME: "/x" }, "linux", "/home/u")).toBe(
      join("/x", "sgd-studio"),
    );
    expect(defaultCacheDir({}, "linux", "/home/u")).toBe(join("/home/u", ".cache", "sgd-studio"));
    expect(defaultCacheDir({}, "darwin", "/Users/u")).toBe(
      join("/Users/u", "Library", "Caches", "sgd-studio"),
    );
    expect(defaultCacheDir({ LOCALAPPDATA: "C:/L" }, "win32", "C:/u")).toBe(
      join("C:/L", "sgd-studio", "Cache"),
    );
  });
});
