/**
 * The `serve` WebSocket protocol, renderer side (docs/web-host.md). The message
 * types are core/service/wire.ts's (imported as types only); the constants are a
 * copy of cli/serve/protocol.ts's, since the renderer may not import runtime
 * code from outside renderer/; cli/serve/client.test.ts checks that they agree.
 */
import type { ServiceErrorCode } from "../../../../core/service/contract.js";
import type { ProtocolErrorCode } from "../../../../core/service/wire.js";

export type {
  CallId,
  CallMessage,
  ProtocolErrorCode,
  ServerMessage,
  WireError,
} from "../../../../core/service/wire.js";

/** Errors the client makes itself: the connection dropped with the call unanswered, the token was refused, the client was closed. */
export type ClientErrorCode = "connection-lost" | "unauthorized" | "closed";

export type ErrorCode = ServiceErrorCode | ProtocolErrorCode | ClientErrorCode;

/** The server answers longer messages with "too-large"; the client refuses to send them. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The WebSocket endpoint; the token goes in its query string. */
export const WS_PATH = "/ws";

/** Answers 204 with the right token and 401 without: tells "wrong token" from "server down". */
export const PING_PATH = "/api/ping";
