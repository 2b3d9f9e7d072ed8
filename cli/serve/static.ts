/**
 * Static files of the built renderer: only regular files inside the folder
 * (after decoding, normalizing and resolving symlinks), no dotfiles, no
 * directory listings; a page that says how to build the renderer when it is missing.
 */
import { createReadStream, existsSync } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".wasm": "application/wasm",
};

export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** The package root (the folder with package.json), from source or from dist/. */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) return resolve(dirname(from), "..", "..");
    dir = up;
  }
}

/** Where Vite puts the built renderer: `<package>/dist/renderer`. */
export function defaultStaticDir(): string {
  return join(packageRoot(), "dist", "renderer");
}

export type Resolved =
  | { kind: "file"; path: string; size: number }
  | { kind: "refused"; status: 400 | 403 | 404; reason: string };

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * Maps a request path (raw, still percent-encoded, without the query) to a
 * file inside `root`, refusing anything that could leave it: `..` segments
 * (plain or encoded), backslashes, NUL bytes, absolute or drive paths,
 * dotfiles, directories, and symlinks that lead outside.
 */
export async function resolveStatic(root: string, rawPath: string): Promise<Resolved> {
  if (!rawPath.startsWith("/")) return { kind: "refused", status: 400, reason: "bad path" };
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { kind: "refused", status: 400, reason: "bad percent-encoding" };
  }
  if (decoded.includes("\0") || decoded.includes("\\"))
    return { kind: "refused", status: 400, reason: "bad path" };
  const segments = decoded.split("/").filter((s) => s !== "");
  for (const s of segments) {
    if (s === "." || s === "..") return { kind: "refused", status: 403, reason: "path traversal" };
    if (s.startsWith(".")) return { kind: "refused", status: 404, reason: "not found" };
    if (/^[A-Za-z]:/.test(s)) return { kind: "refused", status: 403, reason: "absolute path" };
  }
  if (segments.length === 0) segments.push("index.html");
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return { kind: "refused", status: 404, reason: "not found" };
  }
  const candidate = resolve(realRoot, ...segments);
  if (!isInside(realRoot, candidate))
    return { kind: "refused", status: 403, reason: "path traversal" };
  try {
    const real = await realpath(candidate);
    if (!isInside(realRoot, real)) return { kind: "refused", status: 403, reason: "outside" };
    const st = await stat(real);
    if (!st.isFile()) return { kind: "refused", status: 404, reason: "not found" };
    return { kind: "file", path: real, size: st.size };
  } catch {
    return { kind: "refused", status: 404, reason: "not found" };
  }
}

/** Streams a resolved file (headers already set by the caller); HEAD gets headers only. */
export function sendFile(res: ServerResponse, path: string, size: number, head: boolean): void {
  res.setHeader("Content-Type", contentType(path));
  res.setHeader("Content-Length", size);
  res.writeHead(200);
  if (head) {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on("error", () => res.destroy());
  stream.pipe(res);
}

/** Shown when dist/renderer has no index.html yet. No scripts, no inline styles (the CSP forbids both). */
export function notBuiltPage(staticDir: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>SGD Studio: renderer not built</title></head>
<body>
<h1>SGD Studio</h1>
<p>The server is running, but the renderer (the user interface) is not built:
there is no <code>index.html</code> in <code>${esc(staticDir)}</code>.</p>
<p>Build it in the project folder, then reload this page:</p>
<pre>npm run build</pre>
<p>The service itself already answers on the WebSocket at <code>/ws?token=...</code>
(see docs/web-host.md).</p>
</body>
</html>
`;
}
