/**
 * Types of the `serve` WebSocket protocol (docs/web-host.md), shared by the
 * server (cli/serve/protocol.ts) and the renderer's client
 * (renderer/src/lib/transport/protocol.ts), which imports them as types only.
 *   client -> server  {id, method, params}
 *   server -> client  {id, result} | {id, error: {code, message, field?}} | {event}
 */
import type { ServiceErrorCode, ServiceEvent } from "./contract.js";

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
