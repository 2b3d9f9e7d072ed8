import { EventEmitter } from "node:events";
import { describe, expect, it, vi } from "vitest";
import {
  APP_URL,
  CONTENT_SECURITY_POLICY,
  hardenSession,
  hardenWebContents,
  isSafeExternalUrl,
  isTrustedSender,
  rendererSource,
  secureWebPreferences,
} from "./security.js";

const app = rendererSource({ isPackaged: true });

function frame(url: string, parent: unknown = null) {
  return { url, parent } as never;
}

describe("the app's origin", () => {
  it("is app://sgd-studio, compared by parts, not by prefix", () => {
    expect(app.url).toBe(APP_URL);
    expect(app.isAppUrl("app://sgd-studio/index.html")).toBe(true);
    expect(app.isAppUrl("app://sgd-studio/assets/x.js?y#z")).toBe(true);
    for (const url of [
      "app://sgd-studio.evil.com/index.html",
      "app://evil/index.html",
      "app://sgd-studio:8080/index.html",
      "file:///index.html",
      "https://sgd-studio/index.html",
      "http://localhost:5173/",
      "javascript:alert(1)",
      "not a url",
      "",
    ]) {
      expect(app.isAppUrl(url), url).toBe(false);
    }
  });

  it("a dev server on localhost is used only when not packaged", () => {
    const env = { SGD_STUDIO_RENDERER_URL: "http://localhost:5173/" };
    const dev = rendererSource({ isPackaged: false, env });
    expect(dev.url).toBe("http://localhost:5173/");
    expect(dev.isAppUrl("http://localhost:5173/src/main.ts")).toBe(true);
    expect(dev.isAppUrl("http://localhost:5174/")).toBe(false);
    expect(dev.isAppUrl(APP_URL)).toBe(false);
    expect(dev.csp).toContain("connect-src 'self' ws://localhost:5173");
    expect(rendererSource({ isPackaged: true, env }).url).toBe(APP_URL);
    // Only localhost over http: a remote dev URL is ignored.
    const remote = { SGD_STUDIO_RENDERER_URL: "http://example.com:5173/" };
    expect(rendererSource({ isPackaged: false, env: remote }).url).toBe(APP_URL);
  });

  it("the CSP allows nothing but the app's own files", () => {
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("object-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-(inline|eval)|\*/);
  });
});

describe("IPC senders", () => {
  const contents = {} as never;
  it("only the main frame of the app's page in the app's window is trusted", () => {
    const ok = { senderFrame: frame(APP_URL), sender: contents };
    expect(isTrustedSender(ok, app, contents)).toBe(true);
    expect(isTrustedSender(ok, app)).toBe(true);
    expect(isTrustedSender({ ...ok, senderFrame: frame("https://evil.example/") }, app)).toBe(
      false,
    );
    expect(isTrustedSender({ ...ok, senderFrame: frame(APP_URL, frame(APP_URL)) }, app)).toBe(
      false,
    );
    expect(isTrustedSender({ ...ok, senderFrame: null }, app)).toBe(false);
    expect(isTrustedSender(ok, app, {} as never)).toBe(false);
    const destroyed = {
      sender: contents,
      get senderFrame(): never {
        throw new Error("Render frame was disposed before WebFrameMain could be accessed");
      },
    };
    expect(isTrustedSender(destroyed, app)).toBe(false);
  });
});

describe("external links", () => {
  it("only https links to named hosts go to the browser", () => {
    for (const url of [
      "https://arxiv.org/abs/2311.08745",
      "https://pytorch.org/docs/stable/optim.html",
    ]) {
      expect(isSafeExternalUrl(url), url).toBe(true);
    }
    for (const url of [
      "http://arxiv.org/",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "smb://server/share",
      "ms-msdt:/id",
      "https://user:pass@example.com/",
      "https://127.0.0.1/",
      "https://[::1]/",
      "https://localhost/",
      "https://intranet/",
      "https://printer.local/",
      `https://example.com/${"a".repeat(3000)}`,
      "not a url",
    ]) {
      expect(isSafeExternalUrl(url), url).toBe(false);
    }
  });
});

describe("webContents hardening", () => {
  function setup() {
    const contents = Object.assign(new EventEmitter(), {
      handler: null as null | ((d: { url: string }) => { action: string }),
      setWindowOpenHandler(h: (d: { url: string }) => { action: string }) {
        contents.handler = h;
      },
    });
    const openExternal = vi.fn();
    hardenWebContents(contents as never, { source: app, openExternal });
    const event = () => ({ preventDefault: vi.fn(), isMainFrame: true });
    return { contents, openExternal, event };
  }

  it("blocks navigation away from the app; safe https links open in the browser instead", () => {
    const { contents, openExternal, event } = setup();
    const inApp = event();
    contents.emit("will-navigate", inApp, "app://sgd-studio/index.html#/runs");
    expect(inApp.preventDefault).not.toHaveBeenCalled();
    const web = event();
    contents.emit("will-navigate", web, "https://arxiv.org/abs/2311.08745");
    expect(web.preventDefault).toHaveBeenCalled();
    expect(openExternal).toHaveBeenCalledWith("https://arxiv.org/abs/2311.08745");
    const file = event();
    contents.emit("will-navigate", file, "file:///etc/passwd");
    expect(file.preventDefault).toHaveBeenCalled();
    expect(openExternal).toHaveBeenCalledTimes(1);
    const redirect = event();
    contents.emit("will-redirect", redirect, "https://evil.example/");
    expect(redirect.preventDefault).toHaveBeenCalled();
    const sub = { preventDefault: vi.fn(), isMainFrame: false };
    contents.emit("will-frame-navigate", sub);
    expect(sub.preventDefault).toHaveBeenCalled();
  });

  it("denies every new window and webview", () => {
    const { contents, openExternal, event } = setup();
    expect(contents.handler?.({ url: "https://pytorch.org/" })).toEqual({ action: "deny" });
    expect(openExternal).toHaveBeenCalledWith("https://pytorch.org/");
    expect(contents.handler?.({ url: "app://sgd-studio/index.html" })).toEqual({
      action: "deny",
    });
    expect(contents.handler?.({ url: "javascript:alert(1)" })).toEqual({ action: "deny" });
    expect(openExternal).toHaveBeenCalledTimes(1);
    const webview = event();
    contents.emit("will-attach-webview", webview, {}, {});
    expect(webview.preventDefault).toHaveBeenCalled();
  });
});

describe("session hardening", () => {
  function setup() {
    const s = Object.assign(new EventEmitter(), {
      request: null as null | ((...a: unknown[]) => void),
      check: null as null | ((...a: unknown[]) => boolean),
      device: null as null | ((...a: unknown[]) => boolean),
      headers: null as null | ((d: unknown, cb: (r: unknown) => void) => void),
      setPermissionRequestHandler(h: (...a: unknown[]) => void) {
        s.request = h;
      },
      setPermissionCheckHandler(h: (...a: unknown[]) => boolean) {
        s.check = h;
      },
      setDevicePermissionHandler(h: (...a: unknown[]) => boolean) {
        s.device = h;
      },
      webRequest: {
        onHeadersReceived(h: (d: unknown, cb: (r: unknown) => void) => void) {
          s.headers = h;
        },
      },
    });
    hardenSession(s as never, { source: app, documentsDir: "/home/u/Documents" });
    return s;
  }

  it("denies every permission", () => {
    const s = setup();
    for (const permission of ["media", "geolocation", "notifications", "openExternal"]) {
      const callback = vi.fn();
      s.request?.({}, permission, callback, {});
      expect(callback).toHaveBeenCalledWith(false);
      expect(s.check?.({}, permission, "app://sgd-studio", {})).toBe(false);
    }
    expect(s.device?.({})).toBe(false);
  });

  it("allows clipboard writes from the app's page only; reads stay denied", () => {
    const s = setup();
    const ok = vi.fn();
    s.request?.({}, "clipboard-sanitized-write", ok, {
      requestingUrl: "app://sgd-studio/index.html",
    });
    expect(ok).toHaveBeenCalledWith(true);
    expect(s.check?.({}, "clipboard-sanitized-write", "app://sgd-studio", {})).toBe(true);
    const foreign = vi.fn();
    s.request?.({}, "clipboard-sanitized-write", foreign, {
      requestingUrl: "https://evil.example/",
    });
    expect(foreign).toHaveBeenCalledWith(false);
    expect(s.check?.({}, "clipboard-sanitized-write", "https://evil.example", {})).toBe(false);
    expect(s.check?.({}, "clipboard-read", "app://sgd-studio", {})).toBe(false);
    const noDetails = vi.fn();
    s.request?.({}, "clipboard-sanitized-write", noDetails);
    expect(noDetails).toHaveBeenCalledWith(false);
  });

  it("puts the CSP on every response, replacing any other", () => {
    const s = setup();
    const callback = vi.fn();
    s.headers?.(
      {
        url: APP_URL,
        responseHeaders: { "content-security-policy": ["default-src *"], "X-Other": ["1"] },
      },
      callback,
    );
    const headers = callback.mock.calls[0]?.[0].responseHeaders;
    expect(headers["Content-Security-Policy"]).toEqual([CONTENT_SECURITY_POLICY]);
    expect(headers["content-security-policy"]).toBeUndefined();
    expect(headers["X-Other"]).toEqual(["1"]);
  });

  it("lets the app's page download what it made (Save, Export) through a save dialog; nothing else", () => {
    const s = setup();
    const item = (url: string, name: string) => ({
      getURL: () => url,
      getFilename: () => name,
      setSaveDialogOptions: vi.fn(),
    });
    const page = { getURL: () => APP_URL };
    const ok = item("blob:app://sgd-studio/1234", "schedule.py");
    const event = { preventDefault: vi.fn() };
    s.emit("will-download", event, ok, page);
    expect(event.preventDefault).not.toHaveBeenCalled();
    expect(ok.setSaveDialogOptions).toHaveBeenCalledWith(
      expect.objectContaining({
        defaultPath: expect.stringMatching(/Documents.schedule\.py$/),
        filters: [
          { name: "Python", extensions: ["py"] },
          { name: "All files", extensions: ["*"] },
        ],
      }),
    );
    for (const [url, from] of [
      ["https://evil.example/x.exe", APP_URL],
      ["blob:https://evil.example/1", "https://evil.example/"],
    ] as const) {
      const blocked = { preventDefault: vi.fn() };
      s.emit("will-download", blocked, item(url, "x"), { getURL: () => from });
      expect(blocked.preventDefault, url).toHaveBeenCalled();
    }
  });
});

describe("webPreferences", () => {
  it("isolation, sandbox, no Node, web security on", () => {
    expect(secureWebPreferences("/p/preload.cjs", false)).toEqual({
      preload: "/p/preload.cjs",
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: false,
    });
  });
});
