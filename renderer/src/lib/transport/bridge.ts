/** The client over the Electron preload's bridge (`window.sgdStudio`). */
import type { ClientEvent } from "../../../../core/api/contract.js";
import { type ConnectionState, type StudioClient, StudioError, toStudioError } from "./types.js";

/** What the Electron preload exposes as `window.sgdStudio` (contextBridge). */
export interface ElectronBridge {
  /** Rejects with (or throws) something carrying the ServiceError's code, message and field. */
  call(method: string, params: unknown): Promise<unknown>;
  on(listener: (event: ClientEvent) => void): () => void;
}

export function isElectronBridge(value: unknown): value is ElectronBridge {
  const v = value as Partial<ElectronBridge> | null | undefined;
  return typeof v?.call === "function" && typeof v.on === "function";
}

export function createBridgeClient(bridge: ElectronBridge): StudioClient {
  let closed = false;
  const unsubscribers = new Set<() => void>();
  let state: ConnectionState = {
    status: "open",
    transport: "electron",
    attempt: 0,
    retryAt: null,
    lastError: null,
    opens: 1,
  };
  const stateListeners = new Set<(s: ConnectionState) => void>();
  return {
    async call(method, ...params) {
      if (closed) throw new StudioError("closed", `${method}: the client is closed`);
      try {
        return (await bridge.call(method, params[0] ?? {})) as never;
      } catch (err) {
        throw toStudioError(err);
      }
    },
    on(listener) {
      const off = bridge.on((event) => {
        try {
          listener(event);
        } catch {
          // One failing listener must not stop the others.
        }
      });
      unsubscribers.add(off);
      return () => {
        unsubscribers.delete(off);
        off();
      };
    },
    get state() {
      return state;
    },
    connection: {
      subscribe(run) {
        stateListeners.add(run);
        run(state);
        return () => stateListeners.delete(run);
      },
    },
    close() {
      if (closed) return;
      closed = true;
      for (const off of unsubscribers) off();
      unsubscribers.clear();
      state = { ...state, status: "closed" };
      for (const run of stateListeners) run(state);
    },
  };
}
