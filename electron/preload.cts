/**
 * The preload script of the main window. It runs sandboxed, so it is
 * CommonJS (compiled to preload.cjs) and may require nothing but "electron":
 * the channel names are repeated here from bridge.ts (a test checks they
 * agree), and the contract's types are imported as types only.
 *
 * It exposes exactly one object, `window.sgdStudio`, with two functions:
 *   call(method, params) -> Promise of the result; rejects with a plain
 *                           {code, message, field?} object (see bridge.ts)
 *   on(listener)         -> unsubscribe function; the listener gets the
 *                           event only, never the IPC event (whose `sender`
 *                           would hand the page ipcRenderer itself).
 */
import { contextBridge, type IpcRendererEvent, ipcRenderer } from "electron";
import type { BridgeError, BridgeEvent, CallResponse, SgdStudioBridge } from "./bridge.js" with {
  "resolution-mode": "import",
};

const CALL_CHANNEL_PREFIX = "sgd:call:";
const EVENT_CHANNEL = "sgd:event";
const METHOD_NAME_PATTERN = /^[a-z][A-Za-z]*(?:\.[a-z][A-Za-z]*){1,3}$/;

function bridgeError(code: BridgeError["code"], message: string): BridgeError {
  return { code, message };
}

function isResponse(value: unknown): value is CallResponse {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { ok?: unknown }).ok === "boolean"
  );
}

async function call(method: unknown, params?: unknown): Promise<unknown> {
  if (typeof method !== "string" || !METHOD_NAME_PATTERN.test(method)) {
    throw bridgeError(
      "unknown-method",
      `unknown method ${JSON.stringify(String(method)).slice(0, 200)}`,
    );
  }
  if (
    params !== undefined &&
    (typeof params !== "object" || params === null || Array.isArray(params))
  ) {
    throw bridgeError("invalid-params", `${method}: params must be an object`);
  }
  let response: unknown;
  try {
    response = await ipcRenderer.invoke(`${CALL_CHANNEL_PREFIX}${method}`, params);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    // A method the main process has no handler for.
    if (text.includes("No handler registered")) {
      throw bridgeError("unknown-method", `unknown method ${JSON.stringify(method)}`);
    }
    throw bridgeError("internal", text);
  }
  if (!isResponse(response)) throw bridgeError("internal", `${method}: malformed response`);
  if (response.ok) return response.result;
  throw response.error;
}

function on(listener: unknown): () => void {
  if (typeof listener !== "function") throw new TypeError("sgdStudio.on needs a function");
  const handler = (_event: IpcRendererEvent, payload: BridgeEvent) => {
    (listener as (event: BridgeEvent) => void)(payload);
  };
  ipcRenderer.on(EVENT_CHANNEL, handler);
  return () => {
    ipcRenderer.removeListener(EVENT_CHANNEL, handler);
  };
}

const bridge = { call, on } as SgdStudioBridge;

contextBridge.exposeInMainWorld("sgdStudio", bridge);
