/**
 * The `app://sgd-studio/` protocol that serves the built renderer
 * (dist/renderer) instead of file:// (Electron's checklist, item 18: file://
 * pages get privileges a web page should not have, and every file on disk
 * shares their origin). Only GET and HEAD, only files inside the renderer
 * folder (after resolving `..`, percent-encoding and symbolic links), each
 * with the Content-Security-Policy and nosniff headers.
 */
import { readFile, realpath, stat } from "node:fs/promises";
import { extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { CustomScheme } from "electron";
import { APP_HOST, APP_SCHEME } from "./security.js";

/** Registered before the app is ready: a standard, secure scheme that fetch() may use. */
export const APP_SCHEME_PRIVILEGES: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true },
};

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
};

/** Shown when dist/renderer has not been built: static, no script, fits the CSP. */
const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SGD Studio</title></head>
<body><h1>SGD Studio</h1>
<p>The user interface has not been built: <code>dist/renderer/index.html</code> is missing.
Run <code>npm run build</code> and start again.</p></body></html>
`;

function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * The file a request URL names, or null when it is not an app URL or names
 * something outside `root`. `/` is index.html.
 */
export function resolveAppPath(root: string, url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== `${APP_SCHEME}:` || u.hostname !== APP_HOST || u.port !== "") return null;
  let pathname: string;
  try {
    pathname = decodeURIComponent(u.pathname);
  } catch {
    return null; // malformed percent-encoding
  }
  if (pathname.includes("\0") || pathname.includes("\\")) return null;
  if (pathname === "/" || pathname === "") pathname = "/index.html";
  const base = resolve(root);
  const file = resolve(join(base, pathname));
  return inside(base, file) ? file : null;
}

export interface ProtocolHandlerOptions {
  /** The built renderer (dist/renderer). */
  root: string;
  csp: string;
}

/** The protocol.handle handler: a Response for every request, never a throw. */
export function appProtocolHandler(
  options: ProtocolHandlerOptions,
): (request: Request) => Promise<Response> {
  const headers = (type: string) => ({
    "Content-Type": type,
    "Content-Security-Policy": options.csp,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
  });
  const text = (status: number, body: string) =>
    new Response(body, { status, headers: headers("text/plain; charset=utf-8") });
  return async (request) => {
    if (request.method !== "GET" && request.method !== "HEAD")
      return text(405, "method not allowed");
    const file = resolveAppPath(options.root, request.url);
    if (!file) return text(400, "bad request");
    try {
      // Symbolic links inside dist/renderer must not lead outside it either.
      const [realRoot, realFile] = await Promise.all([realpath(options.root), realpath(file)]);
      if (!inside(realRoot, realFile)) return text(403, "forbidden");
      if (!(await stat(realFile)).isFile()) return text(404, "not found");
      const body = request.method === "HEAD" ? null : await readFile(realFile);
      const type = MIME[extname(realFile).toLowerCase()] ?? "application/octet-stream";
      return new Response(body, { status: 200, headers: headers(type) });
    } catch {
      if (file === join(resolve(options.root), "index.html")) {
        return new Response(NOT_BUILT, {
          status: 200,
          headers: headers("text/html; charset=utf-8"),
        });
      }
      return text(404, "not found");
    }
  };
}
