/**
 * The web host: an HTTP server for the built renderer and a WebSocket that
 * carries the service contract (calls and events), behind a random token.
 * Protocol and security model: docs/web-host.md.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import type { ServiceEvent } from "../../core/api/contract.js";
import {
  cookieName,
  hostAllowed,
  loopbackHosts,
  newToken,
  originAllowed,
  tokenSource,
  validHost,
} from "./auth.js";
import {
  type CallId,
  MAX_MESSAGE_BYTES,
  PING_PATH,
  parseCall,
  peekId,
  type ServerMessage,
  type WireError,
  WS_PATH,
} from "./protocol.js";
import { defaultStaticDir, notBuiltPage, resolveStatic, sendFile } from "./static.js";

/** What the host needs of the service (`Service` from core/service/service.ts fits). */
export interface ServiceLike {
  call(method: string, params?: unknown): Promise<unknown>;
  on(listener: (event: ServiceEvent) => void): () => void;
}

export interface ServerOptions {
  service: ServiceLike;
  /** Address to bind; default 127.0.0.1 (this machine only). */
  host?: string;
  /** Default 8765; 0 picks any free port. */
  port?: number;
  /** The built renderer; default `<package>/dist/renderer`. */
  staticDir?: string;
  /** Default: 32 random bytes, hex. */
  token?: string;
  /** Longest message parsed (bytes); longer ones get a "too-large" error. Default 16 MiB. */
  maxMessageBytes?: number;
  /** Origins allowed on the WebSocket besides the server's own (e.g. a dev server's). */
  allowedOrigins?: string[];
  /**
   * Host headers accepted besides the loopback names (`localhost`,
   * `127.0.0.1`, `[::1]` with the server's port) when bound to loopback, e.g.
   * `localhost:9000` behind a tunnel from another local port. Ignored when
   * bound beyond loopback, where any well-formed Host is accepted.
   */
  allowedHosts?: string[];
  /** How often to ping clients and drop the ones that stopped answering; default 30 s. */
  heartbeatMs?: number;
}

export interface RunningServer {
  /** The URL to open, token included: `http://127.0.0.1:8765/?token=...`. */
  url: string;
  host: string;
  port: number;
  token: string;
  /** Open WebSocket connections. */
  connections(): number;
  /** Closes every socket (code 1001) and the server. Does not close the service. */
  close(): Promise<void>;
}

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8765;
/** A client whose unsent data grows past this is dropped (it reconnects) rather than buffered without end. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/** Binding to these lets other machines connect. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * Scripts and stylesheets from this server only: no inline or injected scripts,
 * no eval. Style *attributes* are allowed (Svelte renders `style="..."`; they
 * cannot run code), `<style>` elements are not.
 */
export function contentSecurityPolicy(host: string | null): string {
  const ws = host ? ` ws://${host} wss://${host}` : "";
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self'${ws}`,
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function splitUrl(raw: string | undefined): { path: string; query: URLSearchParams } {
  const url = raw ?? "/";
  const q = url.indexOf("?");
  return q < 0
    ? { path: url, query: new URLSearchParams() }
    : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

function text(res: ServerResponse, status: number, body: string, head = false): void {
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.writeHead(status);
  res.end(head ? undefined : body);
}

function wrongHost(given: string, allowed: readonly string[]): string {
  return `403 Forbidden: this SGD Studio server answers only to ${allowed.join(", ")}, not to Host ${JSON.stringify(given)} (a defence against DNS rebinding); open the URL that \`sgd-studio serve\` printed\n`;
}

const UNAUTHORIZED =
  "401 Unauthorized: this SGD Studio server needs its token. Open the URL that `sgd-studio serve` printed (it ends in ?token=...).\n";

function rejectUpgrade(socket: Duplex, status: number, reason: string, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.destroy();
}

function toWireError(err: unknown): WireError {
  const e = err as { code?: unknown; message?: unknown; field?: unknown; toJSON?: () => unknown };
  if (typeof e?.toJSON === "function") {
    const j = e.toJSON() as WireError;
    if (typeof j?.code === "string" && typeof j.message === "string") return j;
  }
  const message = typeof e?.message === "string" ? e.message : String(err);
  return { code: "internal", message };
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Starts the web host; resolves once it listens. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { service } = options;
  const host = options.host ?? DEFAULT_HOST;
  const token = options.token ?? newToken();
  const staticDir = options.staticDir ?? defaultStaticDir();
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const allowedOrigins = options.allowedOrigins ?? [];
  let port = options.port ?? DEFAULT_PORT;
  // Host headers answered to: on loopback only its own names and port (the port once
  // listening); null (any well-formed Host) when the user bound beyond loopback on purpose.
  const loopback = isLoopback(host);
  const extraHosts = (options.allowedHosts ?? []).map((h) => h.toLowerCase());
  const allowedHosts = (): string[] | null =>
    loopback ? [...loopbackHosts(host), ...extraHosts] : null;

  const sockets = new Set<WebSocket>();
  const alive = new WeakMap<WebSocket, boolean>();
  // Bigger than the cap so an oversized message still reaches us and gets a structured
  // "too-large" answer; beyond this ws closes the socket with 1009.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Math.max(maxMessageBytes * 4, 1024 * 1024),
  });

  const send = (ws: WebSocket, msg: ServerMessage): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    let body: string;
    try {
      body = JSON.stringify(msg);
    } catch (err) {
      const id = "id" in msg ? msg.id : null;
      body = JSON.stringify({
        id,
        error: { code: "internal", message: `result is not JSON: ${(err as Error).message}` },
      });
    }
    ws.send(body, (err) => {
      if (err) ws.terminate();
    });
  };

  const onMessage = (ws: WebSocket, data: RawData, isBinary: boolean): void => {
    const buf = rawToBuffer(data);
    if (buf.byteLength > maxMessageBytes) {
      send(ws, {
        id: peekId(buf.subarray(0, 256).toString("utf8")),
        error: {
          code: "too-large",
          message: `message of ${buf.byteLength} bytes is over the ${maxMessageBytes}-byte limit`,
        },
      });
      return;
    }
    if (isBinary) {
      send(ws, {
        id: null,
        error: { code: "bad-message", message: "send JSON as text frames, not binary" },
      });
      return;
    }
    const call = parseCall(buf.toString("utf8"));
    if ("error" in call) {
      send(ws, call);
      return;
    }
    const { id } = call;
    // Each call in a task of its own: calls that arrive together (the page's run list and its
    // charts' series) are answered one by one, so a quick answer is not held back until a slow
    // call that came in the same read has run (the library's queries are synchronous).
    setImmediate(() => {
      let pending: Promise<unknown>;
      try {
        pending = service.call(call.method, call.params);
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(
        (result) => send(ws, { id, result: result ?? null }),
        (err: unknown) => send(ws, { id: id as CallId, error: toWireError(err) }),
      );
    });
  };

  const unsubscribe = service.on((event) => {
    if (sockets.size === 0) return;
    const body = JSON.stringify({ event });
    for (const ws of sockets) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        ws.terminate();
        continue;
      }
      ws.send(body, (err) => {
        if (err) ws.terminate();
      });
    }
  });

  wss.on("connection", (ws: WebSocket) => {
    sockets.add(ws);
    alive.set(ws, true);
    ws.on("pong", () => alive.set(ws, true));
    ws.on("message", (data, isBinary) => {
      try {
        onMessage(ws, data, isBinary);
      } catch (err) {
        send(ws, { id: null, error: toWireError(err) });
      }
    });
    ws.on("close", () => sockets.delete(ws));
    ws.on("error", () => {
      // Protocol errors (e.g. a frame over maxPayload) close the socket; nothing else to do.
    });
  });

  const heartbeat = setInterval(() => {
    for (const ws of sockets) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, options.heartbeatMs ?? 30_000);
  heartbeat.unref();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const hostHeader = req.headers.host;
    const goodHost = validHost(hostHeader);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    res.setHeader("Content-Security-Policy", contentSecurityPolicy(goodHost ? hostHeader : null));
    if (!goodHost) return text(res, 400, "400 Bad Request: missing or malformed Host header\n");
    const hosts = allowedHosts();
    if (!hostAllowed(hostHeader, hosts)) return text(res, 403, wrongHost(hostHeader, hosts ?? []));
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      res.setHeader("Allow", "GET, HEAD");
      return text(res, 405, "405 Method Not Allowed\n");
    }
    const { path, query } = splitUrl(req.url);
    const source = tokenSource(req, query, token, port);
    if (source === null) {
      res.setHeader("WWW-Authenticate", 'Bearer realm="sgd-studio"');
      return text(res, 401, UNAUTHORIZED, head);
    }
    res.setHeader("Cache-Control", "no-store");
    if (source === "query") {
      // Lets the page's own scripts and styles load without the token in their URLs.
      res.setHeader(
        "Set-Cookie",
        `${cookieName(port)}=${token}; Path=/; HttpOnly; SameSite=Strict`,
      );
    }
    if (path === PING_PATH) {
      res.writeHead(204);
      res.end();
      return;
    }
    if (path === WS_PATH) {
      res.setHeader("Upgrade", "websocket");
      return text(res, 426, "426 Upgrade Required: this is the WebSocket endpoint\n", head);
    }
    const found = await resolveStatic(staticDir, path);
    if (found.kind === "file") return sendFile(res, found.path, found.size, head);
    if (found.status === 404 && (path === "/" || path === "/index.html")) {
      const page = notBuiltPage(staticDir);
      res.setHeader("Content-Type", "text/html; charset=utf-8");
      res.setHeader("Content-Length", Buffer.byteLength(page));
      res.writeHead(200);
      res.end(head ? undefined : page);
      return;
    }
    const messages = { 400: "Bad Request", 403: "Forbidden", 404: "Not Found" } as const;
    return text(res, found.status, `${found.status} ${messages[found.status]}\n`, head);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) text(res, 500, "500 Internal Server Error\n");
      else res.destroy();
    });
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    socket.destroy();
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const hostHeader = req.headers.host;
    const { path, query } = splitUrl(req.url);
    if (!validHost(hostHeader))
      return rejectUpgrade(socket, 400, "Bad Request", "missing or malformed Host header\n");
    const hosts = allowedHosts();
    if (!hostAllowed(hostHeader, hosts))
      return rejectUpgrade(socket, 403, "Forbidden", wrongHost(hostHeader, hosts ?? []));
    if (path !== WS_PATH)
      return rejectUpgrade(socket, 404, "Not Found", `no WebSocket at ${path}; use ${WS_PATH}\n`);
    if (tokenSource(req, query, token, port, ["query"]) === null)
      return rejectUpgrade(socket, 401, "Unauthorized", UNAUTHORIZED);
    if (!originAllowed(req.headers.origin, hostHeader, allowedOrigins))
      return rejectUpgrade(
        socket,
        403,
        "Forbidden",
        `403 Forbidden: WebSocket from another origin (${req.headers.origin})\n`,
      );
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    const onError = (err: Error) => {
      server.off("listening", onListening);
      rejectListen(err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolveListen();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  }).catch((err: unknown) => {
    clearInterval(heartbeat);
    unsubscribe();
    throw err;
  });
  const address = server.address();
  if (address && typeof address === "object") port = address.port;

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(heartbeat);
      unsubscribe();
      const closed = [...sockets].map(
        (ws) =>
          new Promise<void>((done) => {
            if (ws.readyState === WebSocket.CLOSED) return done();
            ws.once("close", () => done());
            ws.close(1001, "server shutting down");
          }),
      );
      await Promise.race([
        Promise.all(closed),
        new Promise((done) => setTimeout(done, 1_000).unref()),
      ]);
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((done) => wss.close(() => done()));
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    })();
    return closing;
  };

  return {
    url: `http://${urlHost(host)}:${port}/?token=${token}`,
    host,
    port,
    token,
    connections: () => sockets.size,
    close,
  };
}
