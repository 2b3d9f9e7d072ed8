/**
 * The `serve` WebSocket protocol (docs/web-host.md): its message types and
 * constants, shared by the server (cli/serve/protocol.ts) and the renderer's
 * client (renderer/src/lib/transport/protocol.ts). Its only import is a type
 * import, so the renderer may import the constants at run time.
 *   client -> server  {id, method, params}
 *   server -> client  {id, result} | {id, error: {code, message, field?}} | {event}
 */
import type { ServiceErrorCode, ServiceEvent } from "./contract.js";

/** Messages longer than this (bytes) get a "too-large" error instead of being parsed; the client refuses to send them. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The WebSocket endpoint's path; the token goes in its query string (`?token=`). */
export const WS_PATH = "/ws";

/** A token-checked endpoint that answers 204 (401 without the right token): clients use it to tell "wrong token" from "server down". */
export const PING_PATH = "/api/ping";

/** Errors of the wire itself, sent by the server, next to the service's own codes. */
export type ProtocolErrorCode = "bad-message" | "too-large";

export interface WireError {
  code: ServiceErrorCode | ProtocolErrorCode;
  message: string;
  field?: string;
}

export type CallId = string | number;

export interface CallMessage {
  id: CallId;
  method: string;
  params?: unknown;
}

export type ServerMessage =
  | { id: CallId | null; result: unknown }
  | { id: CallId | null; error: WireError }
  | { event: ServiceEvent };
