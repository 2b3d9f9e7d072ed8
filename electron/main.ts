/**
 * Electron's entry point (package.json `main`: dist/electron/main.js).
 * Not awaited at the top level: an ESM entry's top-level awaits are meant to
 * finish before `ready`, and runDesktopApp waits for `ready`.
 */
import { app } from "electron";
import { runDesktopApp } from "./app.js";

runDesktopApp().catch((err: unknown) => {
  console.error("SGD Studio could not start:", err);
  app.exit(1);
});
