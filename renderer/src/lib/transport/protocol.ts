/**
 * The `serve` WebSocket protocol, renderer side (docs/web-host.md). The message
 * types and the constants are core/api/wire.ts's, shared with the server
 * (cli/serve/protocol.ts).
 */
import type { ServiceErrorCode } from "../../../../core/api/contract.js";
import type { ProtocolErrorCode } from "../../../../core/api/wire.js";

export type {
  CallId,
  CallMessage,
  ProtocolErrorCode,
  ServerMessage,
  WireError,
} from "../../../../core/api/wire.js";
export { MAX_MESSAGE_BYTES, PING_PATH, WS_PATH } from "../../../../core/api/wire.js";

/** Errors the client makes itself: the connection dropped with the call unanswered, the token was refused, the client was closed. */
export type ClientErrorCode = "connection-lost" | "unauthorized" | "closed";

export type ErrorCode = ServiceErrorCode | ProtocolErrorCode | ClientErrorCode;
