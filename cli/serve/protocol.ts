/**
 * The wire protocol of the `serve` WebSocket (docs/web-host.md). One JSON text
 * message per frame:
 *   client -> server  {id, method, params}
 *   server -> client  {id, result} | {id, error: {code, message, field?}} | {event}
 * The message types and the constants live in core/api/wire.ts (shared
 * with the renderer).
 */
import type { CallId, CallMessage, WireError } from "../../core/api/wire.js";

export type {
  CallId,
  CallMessage,
  ProtocolErrorCode,
  ServerMessage,
  WireError,
} from "../../core/api/wire.js";
export { MAX_MESSAGE_BYTES, PING_PATH, WS_PATH } from "../../core/api/wire.js";

/** Ids are non-empty strings of at most 200 characters or finite numbers. */
export function isCallId(id: unknown): id is CallId {
  return (
    (typeof id === "string" && id.length > 0 && id.length <= 200) ||
    (typeof id === "number" && Number.isFinite(id))
  );
}

/**
 * The id of a message too large (or too broken) to parse, when the sender put
 * it first as the client does (`{"id":12,...`), so the caller still gets its answer.
 */
export function peekId(prefix: string): CallId | null {
  const m = /^\s*\{\s*"id"\s*:\s*(-?\d{1,15}(?![\d.eE])|"[^"\\]{1,200}")/.exec(prefix);
  if (!m?.[1]) return null;
  return m[1].startsWith('"') ? m[1].slice(1, -1) : Number(m[1]);
}

/** Parses one client message; an error message (with the id when one can be found) when it is not a call. */
export function parseCall(text: string): CallMessage | { id: CallId | null; error: WireError } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return {
      id: peekId(text.slice(0, 256)),
      error: { code: "bad-message", message: `malformed JSON: ${(err as Error).message}` },
    };
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return {
      id: null,
      error: {
        code: "bad-message",
        message: "a message must be a JSON object {id, method, params}",
      },
    };
  }
  const msg = data as Record<string, unknown>;
  if (!isCallId(msg.id)) {
    return {
      id: null,
      error: {
        code: "bad-message",
        message:
          msg.id === undefined
            ? "missing id: a call is {id, method, params}"
            : "id must be a non-empty string (at most 200 characters) or a finite number",
        field: "id",
      },
    };
  }
  return { id: msg.id, method: msg.method as string, params: msg.params };
}
