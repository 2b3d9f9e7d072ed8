/** Debian's Chromium driven by playwright-core, the way the project's UI tests see the app. */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { type RunningServer, startServer } from "../../cli/serve/server.js";
import { startTraining } from "../../core/engine/worker-client.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS = join(import.meta.dirname, "..", "..", "test-artifacts");

export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`CI must install Debian's chromium (${CHROMIUM} is missing)`);
  console.warn(`skipping browser tests: ${CHROMIUM} not found (apt-get install chromium)`);
  return false;
}

export async function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
    // playwright gives every launch a fresh, empty profile (its own --user-data-dir).
  });
}

/** The app as `serve` runs it, on a temporary port: the service with its run library, and the web host. */
export interface TestApp {
  service: Service;
  server: RunningServer;
  /** Closes the web host, then the service. */
  close(): Promise<void>;
}

export async function startApp(home: string): Promise<TestApp> {
  const service = new Service({ home, runs: runMethods({ home, launch: startTraining }) });
  const server = await startServer({ service, port: 0 });
  return {
    service,
    server,
    close: async () => {
      await server.close();
      await service.close();
    },
  };
}
