/**
 * The renderer's one way to reach the service: `createClient()` picks the
 * Electron bridge when the preload exposed one (`window.sgdStudio`), else the
 * `serve` WebSocket of the page's own server, with the token from the page URL.
 */
import { createBridgeClient, type ElectronBridge, isElectronBridge } from "./bridge.js";
import { PING_PATH, WS_PATH } from "./protocol.js";
import { type ConnectionState, type StudioClient, StudioError } from "./types.js";
import {
  type BackoffOptions,
  createWebSocketClient,
  type FetchLike,
  type WebSocketConstructor,
} from "./websocket.js";

export { createBridgeClient, type ElectronBridge, isElectronBridge } from "./bridge.js";
export * from "./protocol.js";
export * from "./types.js";
export {
  type BackoffOptions,
  backoffDelay,
  createWebSocketClient,
  type FetchLike,
  type WebSocketClientOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./websocket.js";

/** The parts of `window.location` used. */
export interface LocationLike {
  protocol: string;
  host: string;
  search: string;
}

export interface CreateClientOptions {
  /** Default: `window.sgdStudio` when it is a bridge. Pass null to force the WebSocket. */
  bridge?: ElectronBridge | null;
  /** Default: the global WebSocket (tests in Node pass `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Default: `window.location` (the page the server served). */
  location?: LocationLike;
  /** Default: the global fetch; used to tell a refused token from a server that is down. */
  fetch?: FetchLike;
  /** Default: the `token` query parameter of `location.search`. */
  token?: string;
  backoff?: BackoffOptions;
  maxMessageBytes?: number;
}

interface Globals {
  sgdStudio?: unknown;
  WebSocket?: WebSocketConstructor;
  location?: LocationLike;
  fetch?: FetchLike;
}

/** A client that never connects (the page has no token, or there is no WebSocket): every call says why. */
function refusedClient(why: string): StudioClient {
  const state: ConnectionState = {
    status: "unauthorized",
    transport: "websocket",
    attempt: 0,
    retryAt: null,
    lastError: why,
    opens: 0,
  };
  return {
    call: (method, ..._params) =>
      Promise.reject(new StudioError("unauthorized", `${method}: ${why}`)),
    on: () => () => {},
    state,
    connection: {
      subscribe(run) {
        run(state);
        return () => {};
      },
    },
    close() {},
  };
}

export function createClient(options: CreateClientOptions = {}): StudioClient {
  const g = globalThis as Globals;
  const bridge = options.bridge === undefined ? g.sgdStudio : options.bridge;
  if (isElectronBridge(bridge)) return createBridgeClient(bridge);
  const location = options.location ?? g.location;
  const WebSocketImpl = options.WebSocket ?? g.WebSocket;
  if (!location || !WebSocketImpl)
    return refusedClient("no Electron bridge, no WebSocket and no page location");
  const token = options.token ?? new URLSearchParams(location.search).get("token");
  if (!token)
    return refusedClient("the page URL has no ?token=...: open the URL `sgd-studio serve` printed");
  const secure = location.protocol === "https:";
  const q = `?token=${encodeURIComponent(token)}`;
  const fetchImpl =
    options.fetch ?? (g.fetch ? (url: string) => (g.fetch as FetchLike)(url) : undefined);
  return createWebSocketClient({
    url: `${secure ? "wss" : "ws"}://${location.host}${WS_PATH}${q}`,
    pingUrl: `${secure ? "https" : "http"}://${location.host}${PING_PATH}${q}`,
    WebSocket: WebSocketImpl,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.maxMessageBytes ? { maxMessageBytes: options.maxMessageBytes } : {}),
  });
}
