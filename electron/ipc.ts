/**
 * The service over Electron IPC: one `ipcMain.handle("sgd:call:<method>")` per
 * contract method, each checking its sender and its payload, and the service's
 * events forwarded to the window with `webContents.send("sgd:event")`.
 *
 * A call always resolves with a `CallResponse`: `{ok: true, result}` or
 * `{ok: false, error: {code, message, field?}}`. Errors are not thrown across
 * IPC because Electron turns a thrown error into a bare message
 * ("Error invoking remote method ...") and the code and field are lost.
 * The one exception is a sender that is not the app's own page: it gets a
 * thrown, uninformative refusal (it is not a client of ours).
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from "electron";
import { METHODS, type MethodName, ServiceError, type ServiceEvent } from "../core/api/contract.js";
import {
  type BridgeError,
  type BridgeEvent,
  type CallResponse,
  callChannel,
  EVENT_CHANNEL,
} from "./bridge.js";

/** The part of the Service the IPC layer uses. */
export interface CallableService {
  call(method: string, params?: unknown): Promise<unknown>;
  on(listener: (event: ServiceEvent) => void): () => void;
}

export interface BindOptions {
  /** True when the call comes from the app's own page (see security.ts isTrustedSender). */
  isTrustedSender(event: IpcMainInvokeEvent): boolean;
  log?: (message: string) => void;
}

export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Any thrown value as a BridgeError; only ServiceErrors keep their code. */
export function toBridgeError(err: unknown): BridgeError {
  if (err instanceof ServiceError) return err.toJSON() as BridgeError;
  const message = err instanceof Error ? err.message : String(err);
  return { code: "internal", message };
}

/** Registers one handler per contract method; returns a function that removes them. */
export function bindService(
  ipcMain: Pick<IpcMain, "handle" | "removeHandler">,
  service: CallableService,
  options: BindOptions,
): () => void {
  const log = options.log ?? (() => {});
  const channels: string[] = [];
  for (const method of METHOD_NAMES) {
    const channel = callChannel(method);
    ipcMain.handle(channel, async (event, ...args: unknown[]): Promise<CallResponse> => {
      if (!options.isTrustedSender(event)) {
        log(`refused ${method} from ${senderUrl(event)}`);
        throw new Error("refused");
      }
      const params = args[0];
      if (args.length > 1) {
        return fail({ code: "invalid-params", message: `${method}: expected one params object` });
      }
      if (params !== undefined && !isPlainObject(params)) {
        const got = params === null ? "null" : Array.isArray(params) ? "an array" : typeof params;
        return fail({
          code: "invalid-params",
          message: `${method}: params must be an object, got ${got}`,
        });
      }
      try {
        return { ok: true, result: await service.call(method, params ?? {}) };
      } catch (err) {
        return fail(toBridgeError(err));
      }
    });
    channels.push(channel);
  }
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}

function fail(error: BridgeError): CallResponse {
  return { ok: false, error };
}

function senderUrl(event: IpcMainInvokeEvent): string {
  try {
    return event.senderFrame?.url ?? "a destroyed frame";
  } catch {
    return "a destroyed frame";
  }
}

/** The window the events go to, when there is one and it still shows the app. */
export interface EventTarget {
  webContents: Pick<WebContents, "send" | "getURL" | "isDestroyed">;
  isDestroyed(): boolean;
}

/**
 * Sends every event to the window while it shows the app's own page (never to
 * a page it was somehow navigated to). Returns a function that sends an app
 * event the same way, and one that stops forwarding.
 */
export function forwardEvents(
  service: Pick<CallableService, "on">,
  getWindow: () => EventTarget | null,
  isAppUrl: (url: string) => boolean,
): { send(event: BridgeEvent): boolean; stop(): void } {
  const send = (event: BridgeEvent): boolean => {
    const window = getWindow();
    if (!window || window.isDestroyed() || window.webContents.isDestroyed()) return false;
    if (!isAppUrl(window.webContents.getURL())) return false;
    window.webContents.send(EVENT_CHANNEL, event);
    return true;
  };
  const stop = service.on((event) => {
    send(event);
  });
  return { send, stop };
}
