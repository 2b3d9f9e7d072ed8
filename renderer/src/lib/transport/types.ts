/** The client the UI talks to, whichever host it runs in (Electron bridge or `serve` WebSocket). */
import type {
  AppEvent,
  ClientEvent,
  MethodName,
  Params,
  Result,
} from "../../../../core/api/contract.js";
import type { ErrorCode } from "./protocol.js";

/** A failed call: the service's structured error (code, message, field) or the transport's. */
export class StudioError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "StudioError";
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

/** Turns whatever a call rejected with into a StudioError, keeping code, message and field when present. */
export function toStudioError(err: unknown): StudioError {
  if (err instanceof StudioError) return err;
  const e = err as { code?: unknown; message?: unknown; field?: unknown } | null;
  if (e && typeof e === "object" && typeof e.code === "string" && typeof e.message === "string") {
    return new StudioError(
      e.code as ErrorCode,
      e.message,
      typeof e.field === "string" ? e.field : undefined,
    );
  }
  const message = e && typeof e.message === "string" ? e.message : String(err);
  return new StudioError("internal", message);
}

export type ConnectionStatus =
  /** First connection under way. */
  | "connecting"
  /** Connected: calls go out at once. */
  | "open"
  /** The connection dropped (or an attempt failed); the next attempt is at `retryAt`. */
  | "reconnecting"
  /** The server refused the token (or the page URL has none): no more attempts. */
  | "unauthorized"
  /** `close()` was called. */
  | "closed";

export interface ConnectionState {
  status: ConnectionStatus;
  transport: "electron" | "websocket";
  /** Failed attempts since the connection was last open. */
  attempt: number;
  /** When the next attempt starts (ms since the epoch) while reconnecting, else null. */
  retryAt: number | null;
  /** Why the last connection ended or failed, for the UI. */
  lastError: string | null;
  /** How often the connection has opened: above 1 it was re-established, and data shown may be stale (events sent meanwhile are lost). */
  opens: number;
}

/** The desktop shell's events (`app.*`, Electron only), as against the service's. */
export function isAppEvent(event: ClientEvent): event is AppEvent {
  return event.type.startsWith("app.");
}

/** Methods whose params are all optional may be called without them. */
export type ParamsArg<M extends MethodName> =
  // biome-ignore lint/complexity/noBannedTypes: `{}` is exactly "no required fields" here
  {} extends Params<M> ? [params?: Params<M>] : [params: Params<M>];

export interface StudioClient {
  /** Calls a service method; rejects with a StudioError. */
  call<M extends MethodName>(method: M, ...params: ParamsArg<M>): Promise<Result<M>>;
  /**
   * Every event the service emits, and under Electron the desktop shell's
   * (`app.*`: the File menu); survives reconnects. Returns unsubscribe.
   */
  on(listener: (event: ClientEvent) => void): () => void;
  /** The connection's state now. */
  readonly state: ConnectionState;
  /** A Svelte-compatible store of the connection state (calls `run` at once and on every change). */
  readonly connection: { subscribe(run: (state: ConnectionState) => void): () => void };
  /** Ends the connection for good; pending calls reject with "closed". */
  close(): void;
}
