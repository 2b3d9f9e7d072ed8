/**
 * The Electron main process: one window (size and position remembered), the
 * application menu, a single instance, the service bound to IPC with its
 * events forwarded to the window, training in utility processes, and the
 * security policy of security.ts applied to every session and webContents.
 *
 * `runDesktopApp` does everything up to `app.whenReady()` synchronously (some
 * Electron calls must happen before ready), and main.ts does not await it at
 * the top level: Electron's ESM guide has the entry's top-level awaits finish
 * before `ready`, so awaiting `ready` there could wait forever.
 */

import { readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  app,
  BrowserWindow,
  dialog,
  type IpcMainInvokeEvent,
  ipcMain,
  Menu,
  type OpenDialogOptions,
  protocol,
  screen,
  session,
  shell,
} from "electron";
import type { TrainingLauncher } from "../core/engine/worker-client.js";
import { Service, type ServiceOptions } from "../core/service/service.js";
import { resolveHome } from "../core/store/paths.js";
import type { BridgeEvent } from "./bridge.js";
import { bindService, forwardEvents } from "./ipc.js";
import { buildMenuTemplate } from "./menu.js";
import { APP_SCHEME_PRIVILEGES, appProtocolHandler } from "./protocol.js";
import {
  APP_SCHEME,
  hardenSession,
  hardenWebContents,
  isSafeExternalUrl,
  isTrustedSender,
  type RendererSource,
  rendererSource,
  secureWebPreferences,
} from "./security.js";
import { startTrainingInUtilityProcess } from "./training-process.js";
import { clampToDisplays, MIN_SIZE, readWindowState, trackWindowState } from "./window-state.js";

export const PRODUCT_NAME = "SGD Studio";
/** Files larger than this are not opened as schedules. */
export const MAX_SCHEDULE_BYTES = 5 * 1024 * 1024;

/** What the service is built from in this host. */
export interface ServiceDeps {
  /** The SGD Studio home folder (run library, settings), shared with the CLI. */
  home: string;
  /** Starts a training run in a utility process (core never imports Electron). */
  startTraining: TrainingLauncher;
}

/** Builds the service's run methods (the run library and queue) from the host's dependencies. */
export type RunsFactory = (deps: ServiceDeps) => NonNullable<ServiceOptions["runs"]>;

export interface DesktopOptions {
  /** Development mode: reload and devtools in the menu, devtools allowed. Default: not packaged. */
  isDev?: boolean;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** The built renderer. Default: dist/renderer beside dist/electron. */
  rendererDir?: string;
  /** The compiled preload. Default: preload.cjs beside this module. */
  preloadPath?: string;
  iconPath?: string;
  home?: string;
  /**
   * The run library and queue. Default: core/service/runs.ts, loaded at start-up;
   * null: none (runs.* answer "not available").
   */
  runs?: RunsFactory | null;
  /** Overrides how the service is built (tests). */
  createService?: (deps: ServiceDeps) => Service;
  startTraining?: TrainingLauncher;
  log?: (message: string) => void;
}

export interface DesktopApp {
  readonly service: Service;
  readonly source: RendererSource;
  readonly home: string;
  getWindow(): BrowserWindow | null;
  createWindow(): BrowserWindow;
  /** Sends an app event to the window (when it shows the app). */
  sendEvent(event: BridgeEvent): boolean;
  openSchedule(): Promise<void>;
  /** Removes the IPC handlers and closes the service. */
  dispose(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));

function defaultLog(message: string): void {
  console.warn(`[sgd-studio] ${message}`);
}

/**
 * Where Help > Documentation goes: package.json's `homepage` when it is a safe
 * https URL, else null (the user is told where the docs are).
 */
export function docsUrl(appPath: string): string | null {
  try {
    const pkg = JSON.parse(readFileSync(join(appPath, "package.json"), "utf8")) as {
      homepage?: unknown;
    };
    return typeof pkg.homepage === "string" && isSafeExternalUrl(pkg.homepage)
      ? pkg.homepage
      : null;
  } catch {
    return null;
  }
}

/**
 * Starts the desktop app. Resolves with its handles once the window exists,
 * or with null when another instance already runs (that one gets the focus).
 */
export async function runDesktopApp(options: DesktopOptions = {}): Promise<DesktopApp | null> {
  const log = options.log ?? defaultLog;
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const isDev = options.isDev ?? !app.isPackaged;

  // ---- before ready (synchronous) ----------------------------------------
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return null;
  }
  protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
  app.enableSandbox();
  const source = rendererSource({ isPackaged: !isDev, env });
  const openExternal = (url: string) => {
    if (isSafeExternalUrl(url)) void shell.openExternal(url).catch((err) => log(String(err)));
  };
  app.on("web-contents-created", (_event, contents) => {
    hardenWebContents(contents, { source, openExternal, log });
  });

  let window: BrowserWindow | null = null;
  /** Set once the app is ready: a second launch may have to open the window (macOS, all closed). */
  let reopen: (() => void) | null = null;
  const focusWindow = () => {
    if (!window || window.isDestroyed()) {
      reopen?.();
      return;
    }
    if (window.isMinimized()) window.restore();
    window.show();
    window.focus();
  };
  app.on("second-instance", focusWindow);
  app.on("window-all-closed", () => {
    if (platform !== "darwin") app.quit();
  });

  await app.whenReady();

  // ---- after ready -------------------------------------------------------
  const rendererDir = options.rendererDir ?? join(here, "..", "renderer");
  const preloadPath = options.preloadPath ?? join(here, "preload.cjs");
  const iconPath = options.iconPath ?? join(here, "..", "..", "assets", "icon.png");

  hardenSession(session.defaultSession, {
    source,
    documentsDir: safePath(() => app.getPath("documents")),
    log,
  });
  protocol.handle(APP_SCHEME, appProtocolHandler({ root: rendererDir, csp: source.csp }));

  const home = options.home ?? resolveHome(undefined, env);
  const deps: ServiceDeps = {
    home,
    startTraining: options.startTraining ?? startTrainingInUtilityProcess,
  };
  const service = options.createService?.(deps) ?? (await createService(deps, options.runs, log));

  const unbind = bindService(ipcMain, service, {
    isTrustedSender: (event: IpcMainInvokeEvent) =>
      isTrustedSender(event, source, window && !window.isDestroyed() ? window.webContents : null),
    log,
  });
  const events = forwardEvents(service, () => window, source.isAppUrl);

  const openSchedule = async () => {
    const parent = window && !window.isDestroyed() ? window : null;
    const dialogOptions: OpenDialogOptions = {
      title: "Open schedule",
      properties: ["openFile"],
      filters: [
        { name: "Schedules", extensions: ["json"] },
        { name: "All files", extensions: ["*"] },
      ],
    };
    const picked = parent
      ? await dialog.showOpenDialog(parent, dialogOptions)
      : await dialog.showOpenDialog(dialogOptions);
    const file = picked.filePaths[0];
    if (picked.canceled || !file) return;
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error(`${basename(file)} is not a file`);
      if (info.size > MAX_SCHEDULE_BYTES) {
        throw new Error(
          `${basename(file)} is ${(info.size / 1024 / 1024).toFixed(1)} MB; schedules are at most ${MAX_SCHEDULE_BYTES / 1024 / 1024} MB`,
        );
      }
      const content = await readFile(file, "utf8");
      events.send({ type: "app.schedule-opened", name: basename(file), content });
    } catch (err) {
      events.send({ type: "app.error", message: (err as Error).message ?? String(err) });
    }
  };

  const about = () => {
    app.setAboutPanelOptions({
      applicationName: PRODUCT_NAME,
      applicationVersion: app.getVersion(),
      version: `Electron ${process.versions.electron ?? "?"}`,
      credits:
        "Design learning-rate and batch-size schedules, see the smoothing they imply, train and compare runs.",
    });
    app.showAboutPanel();
  };
  const docs = () => {
    const url = docsUrl(app.getAppPath());
    if (url) openExternal(url);
    else {
      void dialog.showMessageBox({
        type: "info",
        title: "Documentation",
        message: "SGD Studio's documentation is in the docs/ folder and README.md of its source.",
      });
    }
  };
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      buildMenuTemplate({
        isDev,
        isMac: platform === "darwin",
        appName: PRODUCT_NAME,
        actions: {
          openSchedule: () => void openSchedule(),
          saveSchedule: () => events.send({ type: "app.menu", command: "schedule.save" }),
          exportPyTorch: () =>
            events.send({ type: "app.menu", command: "schedule.export-pytorch" }),
          about,
          docs,
        },
      }),
    ),
  );

  const createWindow = (): BrowserWindow => {
    const stateFile = join(app.getPath("userData"), "window-state.json");
    const saved = readWindowState(stateFile);
    const bounds = clampToDisplays(
      saved,
      screen.getAllDisplays().map((d) => d.workArea),
      screen.getPrimaryDisplay().workArea,
    );
    const win = new BrowserWindow({
      ...bounds,
      minWidth: MIN_SIZE.width,
      minHeight: MIN_SIZE.height,
      show: false,
      title: PRODUCT_NAME,
      backgroundColor: "#0f172a",
      ...(platform === "darwin" ? {} : { icon: iconPath }),
      webPreferences: secureWebPreferences(preloadPath, isDev),
    });
    if (saved?.maximized) win.maximize();
    trackWindowState(win, stateFile, { onError: (err) => log(`window state: ${String(err)}`) });
    win.once("ready-to-show", () => win.show());
    win.on("closed", () => {
      if (window === win) window = null;
    });
    window = win;
    win.loadURL(source.url).catch((err: unknown) => log(`could not load the app: ${String(err)}`));
    return win;
  };

  reopen = () => {
    if (!window || window.isDestroyed()) createWindow();
  };
  app.on("activate", reopen);
  let closed = false;
  const dispose = async () => {
    if (closed) return;
    closed = true;
    unbind();
    events.stop();
    await service.close();
  };
  app.on("before-quit", () => {
    void dispose().catch((err) => log(`closing the service: ${String(err)}`));
  });

  createWindow();
  return {
    service,
    source,
    home,
    getWindow: () => window,
    createWindow,
    sendEvent: events.send,
    openSchedule,
    dispose,
  };
}

/**
 * The run library's methods from core/service/runs.ts. Loaded when the app
 * starts, not imported statically, so that a run library that cannot load
 * (better-sqlite3 built for Node's ABI rather than Electron's: see
 * docs/packaging.md) leaves the rest of the app working.
 */
export async function defaultRunsFactory(): Promise<RunsFactory> {
  const { runMethods } = await import("../core/service/runs.js");
  return (deps) => runMethods({ home: deps.home, launch: deps.startTraining });
}

async function createService(
  deps: ServiceDeps,
  runs: RunsFactory | null | undefined,
  log: (message: string) => void,
): Promise<Service> {
  if (runs === null) return new Service({ home: deps.home });
  try {
    const factory = runs ?? (await defaultRunsFactory());
    return new Service({ home: deps.home, runs: factory(deps) });
  } catch (err) {
    log(`the run library is not available: ${(err as Error)?.message ?? String(err)}`);
    return new Service({ home: deps.home });
  }
}

function safePath(get: () => string): string | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
}
