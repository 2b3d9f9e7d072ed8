/**
 * The desktop File menu (Electron only): Open Schedule..., Save Schedule...,
 * Export to PyTorch... arrive as `app.*` events (electron/app.ts sends them).
 * They are the Designer's own Open, Save and PyTorch export, so the app shell
 * shows the Designer and hands the command over through a MenuInbox: a
 * command sent while the Designer is not mounted yet waits until it listens.
 */
import type { ClientEvent } from "../../../core/api/contract";

export type MenuCommand =
  /** File > Open Schedule...: the picked file's name and text (read by the main process). */
  | { type: "open"; name: string; content: string }
  /** File > Save Schedule...: download the schedule as JSON (the main process asks where). */
  | { type: "save" }
  /** File > Export to PyTorch...: download the schedule as PyTorch code. */
  | { type: "export-pytorch" }
  /** The shell could not open the file. */
  | { type: "error"; message: string };

/** The File menu's command an event carries, or null for any other event. */
export function menuCommandOf(event: ClientEvent): MenuCommand | null {
  switch (event.type) {
    case "app.schedule-opened":
      return { type: "open", name: event.name, content: event.content };
    case "app.menu":
      return event.command === "schedule.save" ? { type: "save" } : { type: "export-pytorch" };
    case "app.error":
      return { type: "error", message: event.message };
    default:
      return null;
  }
}

export interface MenuInbox {
  /** Hands a command to the listener, or keeps it until one listens. */
  deliver(command: MenuCommand): void;
  /** Receives the waiting commands at once, then each new one; returns the unsubscribe function. */
  listen(handler: (command: MenuCommand) => void): () => void;
}

export function createMenuInbox(): MenuInbox {
  let pending: MenuCommand[] = [];
  let handler: ((command: MenuCommand) => void) | null = null;
  return {
    deliver(command) {
      if (handler) handler(command);
      // Only the latest of each kind matters (two Saves before the Designer shows are one).
      else pending = [...pending.filter((c) => c.type !== command.type), command];
    },
    listen(h) {
      handler = h;
      const waiting = pending;
      pending = [];
      for (const command of waiting) h(command);
      return () => {
        if (handler === h) handler = null;
      };
    },
  };
}

/** The app's one inbox: App.svelte delivers, DesignerView listens. */
export const menuInbox = createMenuInbox();
