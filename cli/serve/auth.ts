/**
 * The `serve` host's access checks: the random token (query string, cookie or
 * Authorization header, compared in constant time), the Host header (its
 * shape, and on loopback its name and port, against DNS rebinding), and the
 * WebSocket Origin (against cross-site WebSocket hijacking).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** 32 random bytes, hex. */
export function newToken(): string {
  return randomBytes(32).toString("hex");
}

/** Constant-time comparison (hashing first so different lengths take the same time too). */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** The cookie that carries the token for the page's own assets; one per port, as cookies ignore ports. */
export function cookieName(port: number): string {
  return `sgd-studio-token-${port}`;
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export type TokenSource = "query" | "cookie" | "header";

/**
 * Where the request carries the right token, or null. HTTP requests may use
 * any of the three; WebSocket upgrades must use the query string (see docs/web-host.md).
 */
export function tokenSource(
  req: IncomingMessage,
  query: URLSearchParams,
  token: string,
  port: number,
  allowed: readonly TokenSource[] = ["query", "cookie", "header"],
): TokenSource | null {
  const fromQuery = query.get("token");
  if (allowed.includes("query") && fromQuery !== null && tokensEqual(fromQuery, token))
    return "query";
  const auth = req.headers.authorization;
  if (allowed.includes("header") && auth?.startsWith("Bearer ")) {
    if (tokensEqual(auth.slice(7).trim(), token)) return "header";
  }
  const fromCookie = cookieValue(req.headers.cookie, cookieName(port));
  if (allowed.includes("cookie") && fromCookie !== null && tokensEqual(fromCookie, token))
    return "cookie";
  return null;
}

/** A Host header we accept: a host name or IP (v6 in brackets) with an optional port; nothing else. */
const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

export function validHost(host: string | undefined): host is string {
  return typeof host === "string" && HOST_PATTERN.test(host);
}

/**
 * True when a WebSocket's Origin is the server's own: the origin of the page
 * the browser loaded from this server, `http(s)://<Host header>` (so it holds
 * through an SSH tunnel on another local port), or one listed in `extra`.
 * Browsers always send Origin on WebSocket handshakes; a client without one
 * (a script, not a browser) cannot be a hijacked page and is let through to
 * the token check.
 */
export function originAllowed(
  origin: string | undefined,
  host: string,
  extra: readonly string[] = [],
): boolean {
  if (origin === undefined) return true;
  const o = origin.toLowerCase();
  const h = host.toLowerCase();
  return o === `http://${h}` || o === `https://${h}` || extra.includes(origin);
}

/**
 * The host names a server bound to the loopback address `bound` answers to
 * (lower case): `localhost`, `127.0.0.1`, `[::1]` and the bound address itself
 * when it is another 127.x.y.z. The port in Host is not checked: a tunnel or
 * a proxy from another local port (`ssh -L 9000:127.0.0.1:8765`) is fine, and
 * DNS rebinding is defeated by the name alone: a page on any other name, e.g.
 * one whose DNS an attacker rebinds to 127.0.0.1, sends its own name in Host
 * and is refused (see docs/web-host.md).
 */
export function loopbackHosts(bound: string): string[] {
  const names = ["localhost", "127.0.0.1", "[::1]"];
  const b = bound.toLowerCase();
  if (/^127\.\d+\.\d+\.\d+$/.test(b) && !names.includes(b)) names.push(b);
  return names;
}

/**
 * True when `host` (a well-formed Host header) is one this server answers to:
 * any host when `allowed` is null (bound beyond loopback on purpose), else one
 * whose name (with or without a port) or whole value is in `allowed`,
 * compared without case.
 */
export function hostAllowed(host: string, allowed: readonly string[] | null): boolean {
  if (allowed === null) return true;
  const h = host.toLowerCase();
  const name = h.replace(/:\d+$/, "");
  return allowed.includes(h) || allowed.includes(name);
}
