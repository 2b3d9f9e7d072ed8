/**
 * What the preload script exposes to the renderer as `window.sgdStudio`, and
 * the IPC channels behind it. Types only, plus the channel names for the main
 * process: the sandboxed preload cannot load this file at run time (a
 * sandboxed preload may only `require("electron")`), so it repeats the three
 * strings below and a test checks that both agree.
 *
 * The renderer may import these types (`import type`) to declare
 * `window.sgdStudio`; nothing here pulls Electron or Node into the renderer.
 */
import type {
  AppEvent,
  ClientEvent,
  MethodName,
  Params,
  Result,
  ServiceErrorCode,
} from "../core/api/contract.js";

/** One `ipcMain.handle` channel per contract method: `sgd:call:<method>`. */
export const CALL_CHANNEL_PREFIX = "sgd:call:";
/** Service and app events, main -> renderer, on one channel. */
export const EVENT_CHANNEL = "sgd:event";
/** What a method name must look like before the preload turns it into a channel name. */
export const METHOD_NAME_PATTERN = /^[a-z][A-Za-z]*(?:\.[a-z][A-Za-z]*){1,3}$/;

export function callChannel(method: string): string {
  return `${CALL_CHANNEL_PREFIX}${method}`;
}

/**
 * A structured error, the shape of `ServiceError.toJSON()` (and of the serve
 * host's wire errors). The bridge rejects with this plain object, not an Error:
 * contextBridge drops an Error's own properties (code, field) when it copies it.
 */
export interface BridgeError {
  code: ServiceErrorCode;
  message: string;
  field?: string;
}

/** What a `sgd:call:<method>` handler returns: never a throw for a bad call. */
export type CallResponse<R = unknown> = { ok: true; result: R } | { ok: false; error: BridgeError };

/** Events of the desktop shell itself (the application menu): declared in core/api/contract.ts. */
export type { AppEvent };

/** What the page receives on the event channel: the service's events and the shell's. */
export type BridgeEvent = ClientEvent;

/** `window.sgdStudio`: the whole surface the renderer gets. */
export interface SgdStudioBridge {
  /** Resolves with the method's result; rejects with a BridgeError. */
  call<M extends MethodName>(method: M, params?: Params<M>): Promise<Result<M>>;
  /** Streams events; returns the unsubscribe function. */
  on(listener: (event: BridgeEvent) => void): () => void;
}
