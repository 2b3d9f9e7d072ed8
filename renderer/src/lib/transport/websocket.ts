/**
 * The client over the `serve` WebSocket (docs/web-host.md): calls as
 * `{id, method, params}`, answers matched by id, events pushed as `{event}`.
 * Reconnects after a drop with exponential backoff; calls that were sent and
 * not answered when the connection dropped reject with "connection-lost"
 * (they may or may not have run, so they are never re-sent); calls made while
 * disconnected wait and go out once connected. Event listeners stay
 * registered across reconnects (the server pushes events to every connection).
 */
import type { ServiceEvent } from "../../../../core/api/contract.js";
import { type CallId, MAX_MESSAGE_BYTES, type ServerMessage } from "./protocol.js";
import { type ConnectionState, type StudioClient, StudioError, toStudioError } from "./types.js";

/** The part of the WebSocket API the client uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `fetch`, as far as the token probe needs it. */
export type FetchLike = (url: string) => Promise<{ status: number }>;

export interface BackoffOptions {
  /** First delay; default 250 ms. */
  initialMs?: number;
  /** Longest delay; default 10 s. */
  maxMs?: number;
  /** Growth per failed attempt; default 2. */
  factor?: number;
}

export interface WebSocketClientOptions {
  /** `ws://host:port/ws?token=...` */
  url: string;
  WebSocket: WebSocketConstructor;
  /** `http://host:port/api/ping?token=...`: asked after an attempt fails, to tell a refused token from a server that is down. */
  pingUrl?: string;
  fetch?: FetchLike;
  backoff?: BackoffOptions;
  maxMessageBytes?: number;
}

const OPEN = 1;

interface Pending {
  method: string;
  text: string;
  sent: boolean;
  resolve: (value: unknown) => void;
  reject: (err: StudioError) => void;
}

function utf8Length(text: string): number {
  // Exact UTF-8 byte count without allocating (TextEncoder would copy a 16 MB string).
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 10_000;
  const factor = options.factor ?? 2;
  const base = Math.min(max, initial * factor ** Math.max(0, attempt - 1));
  // Equal jitter: between half and all of the delay, so many tabs do not retry in step.
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

export function createWebSocketClient(options: WebSocketClientOptions): StudioClient {
  const maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const pending = new Map<CallId, Pending>();
  const listeners = new Set<(event: ServiceEvent) => void>();
  const stateListeners = new Set<(state: ConnectionState) => void>();
  let nextId = 1;
  let socket: WebSocketLike | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  let state: ConnectionState = {
    status: "connecting",
    transport: "websocket",
    attempt: 0,
    retryAt: null,
    lastError: null,
    opens: 0,
  };

  const setState = (patch: Partial<ConnectionState>): void => {
    state = { ...state, ...patch };
    for (const run of stateListeners) {
      try {
        run(state);
      } catch {
        // A failing subscriber must not break the connection logic.
      }
    }
  };

  const rejectAll = (which: (p: Pending) => boolean, make: (p: Pending) => StudioError): void => {
    for (const [id, p] of pending) {
      if (!which(p)) continue;
      pending.delete(id);
      p.reject(make(p));
    }
  };

  const flush = (): void => {
    if (!socket || socket.readyState !== OPEN) return;
    for (const p of pending.values()) {
      if (p.sent) continue;
      p.sent = true;
      socket.send(p.text);
    }
  };

  const onMessage = (data: unknown): void => {
    if (typeof data !== "string") return;
    let msg: ServerMessage;
    try {
      msg = JSON.parse(data) as ServerMessage;
    } catch {
      return;
    }
    if (typeof msg !== "object" || msg === null) return;
    if ("event" in msg) {
      for (const listener of listeners) {
        try {
          listener(msg.event);
        } catch {
          // One failing listener must not stop the others.
        }
      }
      return;
    }
    if (msg.id === null || msg.id === undefined) return;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if ("error" in msg) p.reject(toStudioError(msg.error));
    else p.resolve(msg.result);
  };

  const unauthorized = (why: string): void => {
    setState({ status: "unauthorized", retryAt: null, lastError: why });
    rejectAll(
      () => true,
      (p) => new StudioError("unauthorized", `${p.method}: ${why}`),
    );
  };

  const scheduleReconnect = async (wasOpen: boolean, why: string): Promise<void> => {
    if (!wasOpen && options.pingUrl && options.fetch) {
      try {
        const res = await options.fetch(options.pingUrl);
        if (res.status === 401) {
          unauthorized("the server refused the token: open the URL `sgd-studio serve` printed");
          return;
        }
      } catch {
        // Server unreachable: keep retrying.
      }
      if (closed) return;
    }
    if (closed) return;
    const attempt = state.attempt + 1;
    const delay = backoffDelay(attempt, options.backoff);
    setState({ status: "reconnecting", attempt, retryAt: Date.now() + delay, lastError: why });
    timer = setTimeout(() => {
      timer = null;
      connect();
    }, delay);
  };

  const connect = (): void => {
    if (closed) return;
    let ws: WebSocketLike;
    try {
      ws = new options.WebSocket(options.url);
    } catch (err) {
      void scheduleReconnect(false, (err as Error)?.message ?? String(err));
      return;
    }
    socket = ws;
    let wasOpen = false;
    ws.onopen = () => {
      if (socket !== ws) return;
      wasOpen = true;
      setState({ status: "open", attempt: 0, retryAt: null, opens: state.opens + 1 });
      flush();
    };
    ws.onmessage = (ev) => {
      if (socket === ws) onMessage(ev.data);
    };
    ws.onerror = () => {
      // A close event always follows.
    };
    ws.onclose = (ev) => {
      if (socket !== ws) return;
      socket = null;
      const why = wasOpen
        ? `connection lost (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`
        : `could not connect (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`;
      rejectAll(
        (p) => p.sent,
        (p) =>
          new StudioError(
            "connection-lost",
            `${p.method}: ${why} before the answer came; it may or may not have run`,
          ),
      );
      if (closed) return;
      void scheduleReconnect(wasOpen, why);
    };
  };

  connect();

  return {
    call(method, ...params) {
      if (closed)
        return Promise.reject(new StudioError("closed", `${method}: the client is closed`));
      if (state.status === "unauthorized")
        return Promise.reject(
          new StudioError("unauthorized", `${method}: ${state.lastError ?? "token refused"}`),
        );
      const id = nextId++;
      // id first, so the server can answer even a message it cannot parse.
      const text = JSON.stringify({ id, method, params: params[0] ?? {} });
      const bytes = utf8Length(text);
      if (bytes > maxBytes) {
        return Promise.reject(
          new StudioError(
            "too-large",
            `${method}: the call is ${bytes} bytes, over the ${maxBytes}-byte limit`,
          ),
        );
      }
      return new Promise((resolve, reject) => {
        pending.set(id, {
          method,
          text,
          sent: false,
          resolve: resolve as (value: unknown) => void,
          reject,
        });
        flush();
      });
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get state() {
      return state;
    },
    connection: {
      subscribe(run) {
        stateListeners.add(run);
        run(state);
        return () => stateListeners.delete(run);
      },
    },
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const ws = socket;
      socket = null;
      rejectAll(
        () => true,
        (p) => new StudioError("closed", `${p.method}: the client was closed`),
      );
      setState({ status: "closed", retryAt: null });
      try {
        ws?.close(1000, "client closed");
      } catch {
        // Already closing.
      }
    },
  };
}
