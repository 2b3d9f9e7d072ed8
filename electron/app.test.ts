// The main process against a mocked `electron` module (the binary cannot be installed here).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("electron", () => import("./test/fake-electron.js"));

import { METHODS, type ServiceEvent } from "../core/service/contract.js";
import { Service } from "../core/service/service.js";
import { type DesktopApp, type DesktopOptions, type RunsFactory, runDesktopApp } from "./app.js";
import { callChannel, EVENT_CHANNEL } from "./bridge.js";
import { menuItems } from "./menu.js";
import { APP_URL } from "./security.js";
import {
  app,
  dialog,
  FakeBrowserWindow,
  ipcMain,
  Menu,
  protocol,
  resetFakeElectron,
  session,
  shell,
  state,
} from "./test/fake-electron.js";
import { startTrainingInUtilityProcess } from "./training-process.js";

let running: DesktopApp | null = null;

function dirs() {
  const base = mkdtempSync(join(tmpdir(), "sgd-electron-"));
  const rendererDir = join(base, "renderer");
  mkdirSync(rendererDir);
  writeFileSync(join(rendererDir, "index.html"), "<!doctype html><title>SGD Studio</title>");
  state.userData = join(base, "userData");
  state.appPath = join(base, "app");
  return { base, rendererDir, home: join(base, "home") };
}

async function start(options: DesktopOptions = {}) {
  const d = dirs();
  running = await runDesktopApp({
    rendererDir: d.rendererDir,
    preloadPath: "/app/dist/electron/preload.cjs",
    home: d.home,
    platform: "linux",
    runs: null,
    log: () => {},
    ...options,
  });
  const win = FakeBrowserWindow.instances.at(-1) as FakeBrowserWindow;
  return { app: running, win, ...d };
}

/** An IPC event as Electron builds it for a call from `url`'s frame. */
function ipcEvent(win: FakeBrowserWindow, url = APP_URL, parent: unknown = null) {
  return { sender: win.webContents, senderFrame: { url, parent } };
}

/** A run library stand-in that lets the test emit service events. */
function fakeRuns() {
  let emit: (event: ServiceEvent) => void = () => {};
  const deps: Parameters<RunsFactory>[0][] = [];
  const runs: RunsFactory = (d) => {
    deps.push(d);
    return (e) => {
      emit = e;
      const handlers = Object.fromEntries(
        Object.keys(METHODS)
          .filter((m) => m.startsWith("runs."))
          .map((m) => [m, () => ({ ok: true })]),
      );
      return { handlers: handlers as never, close: () => {} };
    };
  };
  return { runs, deps, emit: (e: ServiceEvent) => emit(e) };
}

beforeEach(() => {
  resetFakeElectron();
});

afterEach(async () => {
  await running?.dispose();
  running = null;
});

describe("start-up", () => {
  it("takes the single-instance lock, registers app:// and enables the sandbox before ready", async () => {
    await start();
    const ready = state.calls.indexOf("whenReady");
    expect(state.calls.indexOf("requestSingleInstanceLock")).toBe(0);
    expect(state.calls.indexOf("registerSchemesAsPrivileged")).toBeLessThan(ready);
    expect(state.calls.indexOf("enableSandbox")).toBeLessThan(ready);
    expect(protocol.registerSchemesAsPrivileged).toHaveBeenCalledWith([
      expect.objectContaining({ scheme: "app" }),
    ]);
    expect(protocol.handle).toHaveBeenCalledWith("app", expect.any(Function));
  });

  it("a second instance quits at once; the first one focuses its window", async () => {
    const { win } = await start();
    win.minimize();
    app.emit("second-instance", {}, ["sgd-studio"], "/");
    expect(win.minimized).toBe(false);
    expect(win.visible).toBe(true);
    expect(win.focused).toBe(true);

    // With every window closed (macOS keeps running), a second launch opens one again.
    win.close();
    app.emit("second-instance", {}, ["sgd-studio"], "/");
    expect(FakeBrowserWindow.instances).toHaveLength(2);
    expect(running?.getWindow()).toBe(FakeBrowserWindow.instances[1]);

    const windows = FakeBrowserWindow.instances.length;
    state.lock = false;
    expect(await runDesktopApp({ log: () => {} })).toBeNull();
    expect(app.quit).toHaveBeenCalled();
    expect(FakeBrowserWindow.instances).toHaveLength(windows);
  });

  it("one window, created with the secure webPreferences, loading the app from app://", async () => {
    const { win } = await start({ isDev: false });
    expect(FakeBrowserWindow.instances).toHaveLength(1);
    expect(win.options.webPreferences).toMatchObject({
      preload: "/app/dist/electron/preload.cjs",
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      devTools: false,
    });
    expect(win.options.webPreferences).not.toHaveProperty("enableBlinkFeatures");
    expect(win.options.show).toBe(false);
    expect(win.webContents.url).toBe(APP_URL);
    win.emit("ready-to-show");
    expect(win.visible).toBe(true);
  });

  it("quits when the window closes (not on macOS)", async () => {
    const { win } = await start();
    win.close();
    app.emit("window-all-closed");
    expect(app.quit).toHaveBeenCalled();
    expect(running?.getWindow()).toBeNull();
  });
});

describe("the service over IPC", () => {
  it("binds one handler per contract method", async () => {
    await start();
    expect([...ipcMain.handlers.keys()].sort()).toEqual(
      Object.keys(METHODS).map(callChannel).sort(),
    );
  });

  it("answers the app's page with {ok, result}", async () => {
    const { win } = await start();
    const presets = (await ipcMain.invoke(callChannel("schedules.presets"), ipcEvent(win), {})) as {
      ok: boolean;
      result: { name: string }[];
    };
    expect(presets.ok).toBe(true);
    expect(presets.result.map((p) => p.name)).toContain("paper-hybrid");
    const noParams = await ipcMain.invoke(callChannel("datasets.list"), ipcEvent(win));
    expect(noParams).toMatchObject({ ok: true, result: expect.any(Array) });
  });

  it("bad payloads get structured errors, never a throw", async () => {
    const { win } = await start();
    const call = (method: string, ...args: unknown[]) =>
      ipcMain.invoke(callChannel(method), ipcEvent(win), ...args);
    for (const params of ["paper-hybrid", 42, null, ["x"], true]) {
      expect(await call("schedules.preview", params)).toEqual({
        ok: false,
        error: {
          code: "invalid-params",
          message: expect.stringMatching(/^schedules.preview: params must be an object/),
        },
      });
    }
    expect(await call("schedules.preview", {}, {})).toMatchObject({
      ok: false,
      error: { code: "invalid-params" },
    });
    expect(
      await call("schedules.preview", { schedule: "paper-hybrid", datasetSize: -1 }),
    ).toMatchObject({ ok: false, error: { code: "invalid-params", field: "datasetSize" } });
    expect(await call("schedules.presets", { extra: 1 })).toMatchObject({
      ok: false,
      error: { code: "invalid-params", message: expect.stringContaining("unknown field extra") },
    });
    expect(await call("schedules.preview", { schedule: "no-such-preset" })).toMatchObject({
      ok: false,
      error: { code: expect.stringMatching(/invalid-schedule|invalid-params/) },
    });
    // A method this host has no run library for: still a structured error.
    expect(await call("runs.list", {})).toMatchObject({
      ok: false,
      error: { code: "internal", message: expect.stringContaining("not available") },
    });
    // The response crosses IPC by structured clone: plain data only.
    const response = await call("schedules.preview", "x");
    expect(structuredClone(response)).toEqual(response);
  });

  it("refuses calls from other origins, subframes, destroyed frames and other windows", async () => {
    const { win } = await start();
    const channel = callChannel("schedules.presets");
    const refused = [
      ipcEvent(win, "https://evil.example/"),
      ipcEvent(win, "app://sgd-studio.evil.example/index.html"),
      ipcEvent(win, "file:///home/user/index.html"),
      ipcEvent(win, APP_URL, { url: APP_URL }),
      { sender: win.webContents, senderFrame: null },
      { sender: {}, senderFrame: { url: APP_URL, parent: null } },
    ];
    for (const event of refused) {
      await expect(ipcMain.invoke(channel, event, {})).rejects.toThrow("refused");
    }
  });

  it("forwards service events to the window, only while it shows the app", async () => {
    const fake = fakeRuns();
    const { win } = await start({ runs: fake.runs });
    expect(fake.deps[0]?.startTraining).toBe(startTrainingInUtilityProcess);
    const event: ServiceEvent = { type: "run.status", runId: "r1", status: "running" };
    fake.emit(event);
    expect(win.webContents.sent).toEqual([[EVENT_CHANNEL, event]]);
    expect(await ipcMain.invoke(callChannel("runs.pause"), ipcEvent(win), { id: "r1" })).toEqual({
      ok: true,
      result: { ok: true },
    });
    win.webContents.url = "https://evil.example/";
    fake.emit(event);
    expect(win.webContents.sent).toHaveLength(1);
    win.webContents.url = APP_URL;
    win.close();
    expect(() => fake.emit(event)).not.toThrow();
    expect(win.webContents.sent).toHaveLength(1);
  });

  it("by default the run library (core/service/runs.ts) serves runs.*", async () => {
    const { win } = await start({ runs: undefined });
    expect(await ipcMain.invoke(callChannel("runs.list"), ipcEvent(win), {})).toEqual({
      ok: true,
      result: [],
    });
  });

  it("a run library that cannot load leaves the rest of the app working", async () => {
    const log = vi.fn();
    const { win } = await start({
      log,
      runs: () => {
        throw new Error("better_sqlite3.node was compiled against a different Node.js version");
      },
    });
    expect(log).toHaveBeenCalledWith(expect.stringMatching(/run library is not available/));
    expect(await ipcMain.invoke(callChannel("runs.list"), ipcEvent(win), {})).toMatchObject({
      ok: false,
      error: { code: "internal" },
    });
    expect(await ipcMain.invoke(callChannel("schedules.presets"), ipcEvent(win), {})).toMatchObject(
      { ok: true },
    );
  });

  it("dispose removes every handler and closes the service", async () => {
    const close = vi.fn();
    await start({
      createService: ({ home }) => {
        const s = new Service({ home });
        s.close = close;
        return s;
      },
    });
    await running?.dispose();
    expect(ipcMain.handlers.size).toBe(0);
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe("security hooks", () => {
  it("navigation and new windows are blocked; safe https links open in the browser", async () => {
    const { win } = await start();
    const wc = win.webContents;
    const nav = (url: string) => {
      const event = { preventDefault: vi.fn() };
      wc.emit("will-navigate", event, url);
      return event.preventDefault.mock.calls.length > 0;
    };
    expect(nav("app://sgd-studio/index.html")).toBe(false);
    expect(nav("https://evil.example/phish")).toBe(true);
    expect(nav("file:///etc/passwd")).toBe(true);
    expect(shell.openExternal).toHaveBeenCalledTimes(1);
    expect(shell.openExternal).toHaveBeenCalledWith("https://evil.example/phish");
    expect(wc.windowOpenHandler?.({ url: "app://sgd-studio/index.html" })).toEqual({
      action: "deny",
    });
    expect(wc.windowOpenHandler?.({ url: "javascript:alert(1)" })).toEqual({ action: "deny" });
    expect(shell.openExternal).toHaveBeenCalledTimes(1);
    const webview = { preventDefault: vi.fn() };
    wc.emit("will-attach-webview", webview, {}, {});
    expect(webview.preventDefault).toHaveBeenCalled();
  });

  it("permission requests are denied and every response carries the CSP", async () => {
    await start();
    const s = session.defaultSession;
    const callback = vi.fn();
    s.permissionRequestHandler?.({}, "media", callback, {});
    expect(callback).toHaveBeenCalledWith(false);
    expect(s.permissionCheckHandler?.({}, "clipboard-read", "app://sgd-studio", {})).toBe(false);
    const headers = vi.fn();
    s.headersListener?.({ url: APP_URL, responseHeaders: {} }, headers);
    expect(headers.mock.calls[0]?.[0].responseHeaders["Content-Security-Policy"][0]).toMatch(
      /script-src 'self'/,
    );
  });

  it("app:// serves the renderer folder", async () => {
    await start();
    const handler = protocol.handlers.get("app");
    const page = await handler?.(new Request(APP_URL));
    expect(await page?.text()).toContain("<title>SGD Studio</title>");
  });
});

describe("window state", () => {
  it("restores the saved size and position, clamped to the displays there are", async () => {
    const d = dirs();
    mkdirSync(state.userData, { recursive: true });
    const file = join(state.userData, "window-state.json");
    writeFileSync(file, JSON.stringify({ x: 3000, y: 100, width: 1000, height: 700 }));
    state.displays = [{ x: 0, y: 0, width: 1920, height: 1040 }];
    running = await runDesktopApp({ rendererDir: d.rendererDir, home: d.home, log: () => {} });
    const win = FakeBrowserWindow.instances[0] as FakeBrowserWindow;
    expect(win.bounds).toEqual({ x: 460, y: 170, width: 1000, height: 700 });

    win.setBounds({ x: 50, y: 60, width: 1100, height: 800 });
    win.maximize();
    win.close();
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({
      x: 50,
      y: 60,
      width: 1100,
      height: 800,
      maximized: true,
    });
    running?.createWindow();
    const again = FakeBrowserWindow.instances[1] as FakeBrowserWindow;
    expect(again.bounds).toEqual({ x: 50, y: 60, width: 1100, height: 800 });
    expect(again.maximized).toBe(true);
  });
});

describe("the menu", () => {
  function items() {
    const template = Menu.buildFromTemplate.mock.calls.at(-1)?.[0] as never;
    return menuItems(template);
  }
  const click = (id: string) =>
    (items().find((i) => i.id === id)?.click as (() => void) | undefined)?.();

  it("is set, with devtools only in development", async () => {
    await start({ isDev: true });
    expect(Menu.setApplicationMenu).toHaveBeenCalledTimes(1);
    expect(items().some((i) => i.role === "toggleDevTools")).toBe(true);
    await running?.dispose();
    resetFakeElectron();
    await start({ isDev: false });
    expect(items().some((i) => i.role === "toggleDevTools")).toBe(false);
    expect(items().some((i) => i.role === "reload")).toBe(false);
  });

  it("Save and Export ask the page; Open reads the picked file and sends it", async () => {
    const { win, base } = await start();
    click("save-schedule");
    click("export-pytorch");
    expect(win.webContents.sent).toEqual([
      [EVENT_CHANNEL, { type: "app.menu", command: "schedule.save" }],
      [EVENT_CHANNEL, { type: "app.menu", command: "schedule.export-pytorch" }],
    ]);
    const file = join(base, "mine.json");
    writeFileSync(file, '{"version":1}');
    dialog.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: [file] });
    await running?.openSchedule();
    expect(win.webContents.sent.at(-1)).toEqual([
      EVENT_CHANNEL,
      { type: "app.schedule-opened", name: "mine.json", content: '{"version":1}' },
    ]);
    dialog.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: [base] });
    await running?.openSchedule();
    expect(win.webContents.sent.at(-1)).toEqual([
      EVENT_CHANNEL,
      { type: "app.error", message: expect.stringContaining("not a file") },
    ]);
    const sent = win.webContents.sent.length;
    dialog.showOpenDialog.mockResolvedValueOnce({ canceled: true, filePaths: [] });
    await running?.openSchedule();
    expect(win.webContents.sent).toHaveLength(sent);
  });

  it("Help: about shows the about panel; docs open the homepage only when it is safe", async () => {
    await start();
    click("about");
    expect(app.showAboutPanel).toHaveBeenCalled();
    mkdirSync(state.appPath, { recursive: true });
    writeFileSync(
      join(state.appPath, "package.json"),
      JSON.stringify({ homepage: "https://example.org/docs" }),
    );
    click("docs");
    expect(shell.openExternal).toHaveBeenCalledWith("https://example.org/docs");
    writeFileSync(join(state.appPath, "package.json"), JSON.stringify({ homepage: "file:///etc" }));
    click("docs");
    expect(shell.openExternal).toHaveBeenCalledTimes(1);
    expect(dialog.showMessageBox).toHaveBeenCalled();
  });
});
