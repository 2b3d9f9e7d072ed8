/**
 * The `serve` WebSocket protocol, renderer side (docs/web-host.md). A copy of
 * cli/serve/protocol.ts's types, since the renderer may not import from cli/;
 * cli/serve/transport.test.ts checks that the two agree.
 */
import type { ServiceErrorCode, ServiceEvent } from "../../../../core/service/contract.js";

/** Errors of the wire itself, sent by the server. */
export type ProtocolErrorCode = "bad-message" | "too-large";

/** Errors the client makes itself: the connection dropped with the call unanswered, the token was refused, the client was closed. */
export type ClientErrorCode = "connection-lost" | "unauthorized" | "closed";

export type ErrorCode = ServiceErrorCode | ProtocolErrorCode | ClientErrorCode;

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

/** The server answers longer messages with "too-large"; the client refuses to send them. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The WebSocket endpoint; the token goes in its query string. */
export const WS_PATH = "/ws";

/** Answers 204 with the right token and 401 without: tells "wrong token" from "server down". */
export const PING_PATH = "/api/ping";
