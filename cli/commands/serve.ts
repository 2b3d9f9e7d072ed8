/** `sgd-studio serve`: the web host (the renderer and the service over a WebSocket, behind a token). */

import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { startTraining } from "../../core/engine/worker-client.js";
import { REDIS_URL_ENV, redactUrl } from "../../core/remote/url.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";
import { defaultHomeDir } from "../../core/store/paths.js";
import { CliError, type Io } from "../io.js";
import { wholeNumber } from "../options.js";
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  isLoopback,
  type RunningServer,
  type ServerOptions,
  startServer,
} from "../serve/server.js";
import { reachable, redisUrlOption } from "./worker.js";

export { type RunningServer, type ServerOptions, startServer };

interface ServeOptions {
  host: string;
  port: string;
  home?: string;
  open: boolean;
  redis?: string;
  dispatch: string;
}

/** Opens the URL in the desktop's browser; silently does nothing where there is none (a headless box). */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
        ? ["cmd", ["/c", "start", '""', url]]
        : ["xdg-open", [url]];
  try {
    const child = spawn(cmd, args as string[], { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
  } catch {
    // No browser: the printed URL is enough.
  }
}

/** Resolves when a SIGINT or SIGTERM arrives (and stops listening for them). */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const on = (signal: NodeJS.Signals) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      done(signal);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

export interface ServeDeps {
  /** Makes the service for a home folder; default `new Service({home})`. */
  createService?: (home: string) => Service;
  /** Resolves when the server should stop; default: SIGINT or SIGTERM. */
  stopSignal?: () => Promise<unknown>;
  /** Called once the server listens (tests read the URL from it). */
  onListening?: (server: RunningServer) => void;
}

export function registerServeCommand(program: Command, io: Io, deps: ServeDeps = {}): void {
  program
    .command("serve")
    .description(
      "serve the app to a browser: the renderer and the service over a WebSocket, behind a token",
    )
    .option(
      "--host <addr>",
      "address to bind (anything but loopback exposes it to the network)",
      DEFAULT_HOST,
    )
    .option("--port <n>", "port (0 = any free port)", String(DEFAULT_PORT))
    .option(
      "--home <dir>",
      "SGD Studio home folder (default: $SGD_STUDIO_HOME or the platform's data folder)",
    )
    .option("--no-open", "do not open a browser")
    .option(
      "--redis <url>",
      `train runs on remote workers through this Redis (default: $${REDIS_URL_ENV}; docs/remote.md)`,
    )
    .option("--dispatch <n>", "with --redis: runs handed to the workers at once", "8")
    .action(async (opts: ServeOptions) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535)
        throw new CliError(`--port must be a whole number from 0 to 65535 (got "${opts.port}")`, 2);
      const home = resolve(opts.home || defaultHomeDir());
      const redisUrl = redisUrlOption(opts.redis, false);
      const dispatch = wholeNumber("--dispatch", 1)(opts.dispatch);
      if (redisUrl) await reachable(redisUrl);
      const remote = redisUrl
        ? (await import("../../core/remote/launcher.js")).remoteLauncher({ url: redisUrl })
        : null;
      let service: Service;
      try {
        service = deps.createService
          ? deps.createService(home)
          : new Service({
              home,
              ...(remote ? { workers: remote.workers } : {}),
              runs: runMethods(
                remote
                  ? { home, launch: remote.launch, concurrency: dispatch }
                  : { home, launch: startTraining },
              ),
            });
      } catch (err) {
        await remote?.close();
        // A library that cannot be opened (damaged, read-only, locked): its one-line message.
        throw new CliError((err as Error).message);
      }
      let server: RunningServer;
      try {
        server = await startServer({ service, host: opts.host, port });
      } catch (err) {
        await service.close();
        await remote?.close();
        const e = err as NodeJS.ErrnoException;
        if (e.code === "EADDRINUSE")
          throw new CliError(
            `port ${port} on ${opts.host} is in use: pick another with --port (0 = any free port)`,
          );
        if (e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND" || e.code === "EACCES")
          throw new CliError(`cannot listen on ${opts.host}:${port}: ${e.message}`);
        throw err;
      }
      if (!isLoopback(opts.host)) {
        io.err(
          `warning: listening on ${opts.host}, not 127.0.0.1: anyone on the network who can reach ` +
            `this machine can reach this server (the token is all that keeps them out, and the ` +
            `connection is not encrypted). For remote use prefer the default and an SSH tunnel: ` +
            `ssh -L ${server.port}:127.0.0.1:${server.port} <this machine>\n`,
        );
      }
      io.out(`SGD Studio is serving at\n\n  ${server.url}\n\n`);
      if (opts.host === "0.0.0.0" || opts.host === "::")
        io.out(`from other machines: http://${hostname()}:${server.port}/?token=${server.token}\n`);
      if (redisUrl) io.out(`runs train on the workers of ${redactUrl(redisUrl)}\n`);
      io.out(`home: ${home}\nCtrl-C stops the server.\n`);
      deps.onListening?.(server);
      if (opts.open) openBrowser(server.url);
      await (deps.stopSignal ?? untilSignal)();
      io.out("stopping...\n");
      await server.close();
      await service.close();
      await remote?.close();
    });
}
