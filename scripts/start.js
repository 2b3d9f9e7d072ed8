#!/usr/bin/env node
// `npm start`: builds what is out of date, then opens the desktop app (Electron).
// Without the Electron binary (an offline install, ELECTRON_SKIP_BINARY_DOWNLOAD=1),
// without a display, or when Electron dies at start-up, it says so in one line and
// starts the web host instead (printing its URL); if the web host is not there
// either, it shows the CLI preview.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
/** Electron exiting with an error sooner than this is taken as "could not start". */
const STARTUP_MS = 5000;

// ---- build ----------------------------------------------------------------

function newestMtime(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    if (entry.isFile() && /\.test\.[cm]?ts$/.test(entry.name)) continue;
    newest = Math.max(newest, newestMtime(join(path, entry.name)));
  }
  return newest;
}

function buildOutputs() {
  const outputs = ["dist/electron/main.js", "dist/electron/preload.cjs", "dist/cli/main.js"];
  try {
    const build = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts?.build ?? "";
    if (/vite|renderer/.test(build)) outputs.push("dist/renderer/index.html");
  } catch {
    // No readable package.json: check the compiled code only.
  }
  return outputs.map((p) => join(root, p));
}

function isStale() {
  const outputs = buildOutputs();
  if (outputs.some((p) => !existsSync(p))) return true;
  const built = Math.min(...outputs.map((p) => statSync(p).mtimeMs));
  const sources = ["core", "cli", "electron", "renderer", "package.json"]
    .concat(readdirSync(root).filter((f) => /^tsconfig.*\.json$/.test(f)))
    .map((p) => newestMtime(join(root, p)));
  return Math.max(...sources) > built;
}

if (isStale()) {
  const build = spawnSync("npm", ["run", "build"], {
    cwd: root,
    stdio: "inherit",
    shell: process.platform === "win32",
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

// ---- the desktop app --------------------------------------------------------

/**
 * The Electron executable, found the way the `electron` package finds it but
 * without its fallback of downloading the binary (slow, and it fails offline).
 */
function electronBinary() {
  let dir;
  try {
    dir = dirname(createRequire(import.meta.url).resolve("electron/package.json"));
  } catch {
    return { missing: "the electron package is not installed" };
  }
  const pathFile = join(dir, "path.txt");
  const executable = existsSync(pathFile) ? readFileSync(pathFile, "utf8").trim() : "";
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    return { bin: join(process.env.ELECTRON_OVERRIDE_DIST_PATH, executable || "electron") };
  }
  const bin = executable ? join(dir, "dist", executable) : "";
  if (!bin || !existsSync(bin)) {
    return { missing: "the Electron binary is not installed (offline install?)" };
  }
  return { bin };
}

function hasDisplay() {
  if (process.platform !== "linux") return true;
  return Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

function startElectron(bin) {
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE; // would make Electron a plain Node
  const started = Date.now();
  const child = spawn(bin, [root, ...args], { cwd: root, stdio: "inherit", env });
  const forward = (signal) => child.kill(signal);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  let fellBack = false;
  const fallBack = (reason) => {
    if (fellBack) return;
    fellBack = true;
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
    void startWebHost(reason);
  };
  child.on("error", (err) =>
    fallBack(`Electron could not be started (${err.code ?? err.message})`),
  );
  child.on("exit", (code, signal) => {
    if (fellBack) return;
    if (code !== 0 && !signal && Date.now() - started < STARTUP_MS) {
      fallBack(`Electron exited at start-up (code ${code})`);
      return;
    }
    process.exit(code ?? 1);
  });
}

// ---- the web host -----------------------------------------------------------

async function startWebHost(reason) {
  console.log(`SGD Studio: ${reason}; starting the web host instead.`);
  let startServer;
  let Service;
  let resolveHome;
  try {
    ({ startServer } = await import("../dist/cli/serve/server.js"));
    ({ Service } = await import("../dist/core/service/service.js"));
    ({ resolveHome } = await import("../dist/core/store/paths.js"));
  } catch {
    console.log("The web host is not available in this build; showing the CLI instead.");
    await cliPreview();
    return;
  }
  const home = resolveHome();
  let service;
  try {
    const { runMethods } = await import("../dist/core/service/runs.js");
    const { startTraining } = await import("../dist/core/engine/worker-client.js");
    service = new Service({ home, runs: runMethods({ home, launch: startTraining }) });
  } catch {
    service = new Service({ home }); // no run library: schedules still work
  }
  const staticDir = join(root, "dist", "renderer");
  let server;
  try {
    server = await startServer({ service, host: "127.0.0.1", staticDir });
  } catch (err) {
    if (err?.code !== "EADDRINUSE") throw err;
    server = await startServer({ service, host: "127.0.0.1", port: 0, staticDir });
  }
  console.log(`SGD Studio is running at ${server.url}  (Ctrl-C stops it)`);
  const stop = async () => {
    await server.close();
    await service.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

/** What `npm start` showed before the app existed: the schedule engine through the CLI. */
async function cliPreview() {
  console.log(
    [
      "Showing the paper's hybrid schedule (LR decay + batch growth):",
      "  npx sgd-studio schedule preview paper-hybrid",
      "",
    ].join("\n"),
  );
  const { main } = await import("../dist/cli/main.js");
  process.exitCode = await main(["schedule", "preview", "paper-hybrid"]);
  console.log(
    [
      "",
      "Train with it on the embedded Fashion-MNIST subset (no download):",
      "  npx sgd-studio train --model mlp --schedule paper-hybrid --epochs 5",
      "More: npx sgd-studio schedule presets | schedule export <file|preset> --to pytorch | doctor | --help",
    ].join("\n"),
  );
}

const electron = electronBinary();
if (electron.missing) await startWebHost(electron.missing);
else if (!hasDisplay()) await startWebHost("no display to open a window on");
else startElectron(electron.bin);
