/**
 * A stand-in for the `electron` module in tests (the Electron binary cannot be
 * installed here): `vi.mock("electron", () => import("./test/fake-electron.js"))`.
 * Each fake keeps what the code under test did to it, so tests can assert it,
 * and `resetFakeElectron()` clears everything between tests (the objects
 * themselves stay the same: the code under test holds references to them).
 */
import { EventEmitter } from "node:events";
import { vi } from "vitest";

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const state = {
  lock: true,
  isPackaged: false,
  userData: "/nonexistent/userData",
  appPath: "/nonexistent/app",
  displays: [{ x: 0, y: 0, width: 1920, height: 1040 }] as Rect[],
  /** Order of notable calls, to check what happens before `ready`. */
  calls: [] as string[],
};

export class FakeWebContents extends EventEmitter {
  url = "";
  destroyed = false;
  sent: [string, unknown][] = [];
  windowOpenHandler: ((details: { url: string }) => { action: string }) | null = null;
  send(channel: string, payload: unknown) {
    this.sent.push([channel, payload]);
  }
  getURL() {
    return this.url;
  }
  isDestroyed() {
    return this.destroyed;
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }) {
    this.windowOpenHandler = handler;
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static instances: FakeBrowserWindow[] = [];
  readonly options: Record<string, unknown> & { webPreferences?: Record<string, unknown> };
  readonly webContents = new FakeWebContents();
  bounds: Rect;
  maximized = false;
  minimized = false;
  destroyed = false;
  visible = false;
  focused = false;

  constructor(options: Record<string, unknown>) {
    super();
    this.options = options;
    this.bounds = {
      x: Number(options.x ?? 0),
      y: Number(options.y ?? 0),
      width: Number(options.width ?? 800),
      height: Number(options.height ?? 600),
    };
    FakeBrowserWindow.instances.push(this);
    app.emit("web-contents-created", {}, this.webContents);
  }
  loadURL(url: string) {
    this.webContents.url = url;
    return Promise.resolve();
  }
  getNormalBounds() {
    return { ...this.bounds };
  }
  setBounds(bounds: Partial<Rect>) {
    this.bounds = { ...this.bounds, ...bounds };
    this.emit("resize");
    this.emit("move");
  }
  isMaximized() {
    return this.maximized;
  }
  maximize() {
    this.maximized = true;
  }
  isMinimized() {
    return this.minimized;
  }
  minimize() {
    this.minimized = true;
  }
  restore() {
    this.minimized = false;
  }
  show() {
    this.visible = true;
  }
  focus() {
    this.focused = true;
  }
  isDestroyed() {
    return this.destroyed;
  }
  close() {
    this.emit("close");
    this.destroyed = true;
    this.webContents.destroyed = true;
    this.emit("closed");
  }
}

class FakeApp extends EventEmitter {
  get isPackaged() {
    return state.isPackaged;
  }
  requestSingleInstanceLock = vi.fn(() => {
    state.calls.push("requestSingleInstanceLock");
    return state.lock;
  });
  quit = vi.fn();
  exit = vi.fn();
  enableSandbox = vi.fn(() => {
    state.calls.push("enableSandbox");
  });
  whenReady = vi.fn(async () => {
    state.calls.push("whenReady");
  });
  getPath = vi.fn((name: string) =>
    name === "userData" ? state.userData : `/nonexistent/${name}`,
  );
  getAppPath = vi.fn(() => state.appPath);
  getVersion = vi.fn(() => "0.1.0");
  setAboutPanelOptions = vi.fn();
  showAboutPanel = vi.fn();
}
export const app = new FakeApp();

type Handler = (event: unknown, ...args: unknown[]) => unknown;
export const ipcMain = {
  handlers: new Map<string, Handler>(),
  handle: vi.fn((channel: string, handler: Handler) => {
    // Like Electron: a second handler for one channel is an error.
    if (ipcMain.handlers.has(channel)) {
      throw new Error(`Attempted to register a second handler for '${channel}'`);
    }
    ipcMain.handlers.set(channel, handler);
  }),
  removeHandler: vi.fn((channel: string) => {
    ipcMain.handlers.delete(channel);
  }),
  /** What `ipcRenderer.invoke` would get: the handler's promise. */
  async invoke(channel: string, event: unknown, ...args: unknown[]) {
    const handler = ipcMain.handlers.get(channel);
    if (!handler) throw new Error(`No handler registered for '${channel}'`);
    return handler(event, ...args);
  },
};

export const protocol = {
  handlers: new Map<string, (request: Request) => Promise<Response>>(),
  registerSchemesAsPrivileged: vi.fn((_schemes: unknown) => {
    state.calls.push("registerSchemesAsPrivileged");
  }),
  handle: vi.fn((scheme: string, handler: (request: Request) => Promise<Response>) => {
    protocol.handlers.set(scheme, handler);
  }),
};

type HeadersListener = (
  details: { url: string; responseHeaders?: Record<string, string[]> },
  callback: (response: { responseHeaders?: Record<string, string[]> }) => void,
) => void;

export class FakeSession extends EventEmitter {
  permissionRequestHandler: Handler | null = null;
  permissionCheckHandler: Handler | null = null;
  devicePermissionHandler: Handler | null = null;
  headersListener: HeadersListener | null = null;
  webRequest = {
    onHeadersReceived: (listener: HeadersListener) => {
      this.headersListener = listener;
    },
  };
  setPermissionRequestHandler(handler: Handler) {
    this.permissionRequestHandler = handler;
  }
  setPermissionCheckHandler(handler: Handler) {
    this.permissionCheckHandler = handler;
  }
  setDevicePermissionHandler(handler: Handler) {
    this.devicePermissionHandler = handler;
  }
}
export const session = { defaultSession: new FakeSession() };

export const screen = {
  getAllDisplays: vi.fn(() => state.displays.map((workArea) => ({ workArea, bounds: workArea }))),
  getPrimaryDisplay: vi.fn(() => ({ workArea: state.displays[0], bounds: state.displays[0] })),
};

export const Menu = {
  buildFromTemplate: vi.fn((template: unknown[]) => ({ template })),
  setApplicationMenu: vi.fn(),
};

export const shell = { openExternal: vi.fn(async (_url: string) => {}), openPath: vi.fn() };

export const dialog = {
  showOpenDialog: vi.fn(async (..._args: unknown[]) => ({
    canceled: true,
    filePaths: [] as string[],
  })),
  showMessageBox: vi.fn(async () => ({ response: 0 })),
};

export const utilityProcess = { fork: vi.fn() };

// Renderer-side modules, for the preload.
export const contextBridge = { exposeInMainWorld: vi.fn() };
export const ipcRenderer = Object.assign(new EventEmitter(), {
  invoke: vi.fn(async (_channel: string, ..._args: unknown[]): Promise<unknown> => undefined),
});

export function resetFakeElectron(): void {
  state.lock = true;
  state.isPackaged = false;
  state.displays = [{ x: 0, y: 0, width: 1920, height: 1040 }];
  state.calls = [];
  FakeBrowserWindow.instances = [];
  app.removeAllListeners();
  ipcMain.handlers.clear();
  protocol.handlers.clear();
  session.defaultSession.removeAllListeners();
  ipcRenderer.removeAllListeners();
  vi.clearAllMocks();
}

export const BrowserWindow = FakeBrowserWindow;
export default {
  app,
  BrowserWindow,
  contextBridge,
  dialog,
  ipcMain,
  ipcRenderer,
  Menu,
  protocol,
  screen,
  session,
  shell,
  utilityProcess,
};
