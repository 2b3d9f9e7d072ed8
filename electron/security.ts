/**
 * The desktop shell's security policy in one place (docs/security.md walks
 * through Electron's checklist against it): where the app's own pages live,
 * the Content-Security-Policy, the window's webPreferences, which URLs may be
 * handed to the system browser, and the hooks that block navigation, new
 * windows, webviews and permission requests.
 */
import { basename, join } from "node:path";
import type {
  Event,
  IpcMainInvokeEvent,
  Session,
  WebContents,
  WebFrameMain,
  WebPreferences,
} from "electron";

/** The renderer is served from `app://sgd-studio/` (see protocol.ts), never from file://. */
export const APP_SCHEME = "app";
export const APP_HOST = "sgd-studio";
export const APP_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/**
 * The policy sent with every page of the app (a response header from the
 * protocol handler and from `webRequest.onHeadersReceived`). The renderer's
 * index.html carries a looser meta tag that also suits the web host
 * (WebSocket); browsers enforce both, so in Electron the stricter one wins:
 * no WebSocket, no inline script or style, nothing from other origins.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Where the app's pages come from: the app:// protocol, or in development a
 * Vite dev server on localhost (`SGD_STUDIO_RENDERER_URL`, ignored when packaged).
 */
export interface RendererSource {
  /** The URL the window loads. */
  url: string;
  /** True for URLs of the app's own pages (same scheme, host and port). */
  isAppUrl(url: string): boolean;
  /** The policy for the app's pages. */
  csp: string;
}

function parse(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/**
 * Compares scheme, host and port with a URL parser (not string prefixes:
 * `app://sgd-studio.evil/` must not pass). Node gives non-special schemes such
 * as app: an opaque origin ("null"), so the parts are compared, not `origin`.
 */
function sameOrigin(a: URL, b: URL): boolean {
  return a.protocol === b.protocol && a.hostname === b.hostname && a.port === b.port;
}

export function rendererSource(options: {
  isPackaged: boolean;
  env?: NodeJS.ProcessEnv;
}): RendererSource {
  const dev = options.isPackaged ? undefined : options.env?.SGD_STUDIO_RENDERER_URL;
  const devUrl = dev ? parse(dev) : null;
  if (
    devUrl &&
    devUrl.protocol === "http:" &&
    ["localhost", "127.0.0.1", "[::1]"].includes(devUrl.hostname)
  ) {
    const base = devUrl;
    // The dev server's hot reload talks over a WebSocket to the same host and port.
    const ws = `ws://${base.host}`;
    return {
      url: base.href,
      isAppUrl: (url) => {
        const u = parse(url);
        return u !== null && sameOrigin(u, base);
      },
      csp: CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ${ws}`),
    };
  }
  const base = new URL(APP_URL);
  return {
    url: APP_URL,
    isAppUrl: (url) => {
      const u = parse(url);
      return u !== null && sameOrigin(u, base);
    },
    csp: CONTENT_SECURITY_POLICY,
  };
}

/** The main window's webPreferences: isolation, sandbox, no Node, web security on. */
export function secureWebPreferences(preload: string, devTools: boolean): WebPreferences {
  return {
    preload,
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
    devTools,
  };
}

/**
 * Links the app may open in the system browser: https only, a DNS host name
 * (no IP literal, no localhost, no single label), no credentials, a sane length.
 * Everything else (file:, javascript:, custom schemes, smb: shares) is refused,
 * because `shell.openExternal` hands the URL to whatever the OS associates.
 */
export function isSafeExternalUrl(url: string): boolean {
  if (typeof url !== "string" || url.length > 2048) return false;
  const u = parse(url);
  if (!u || u.protocol !== "https:") return false;
  if (u.username || u.password) return false;
  const host = u.hostname.toLowerCase();
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(host)) return false; // also rejects IPv6 literals
  if (/^[0-9.]+$/.test(host)) return false; // IPv4 literal
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".local")) return false;
  return true;
}

/**
 * True when an IPC call comes from the app's own page in the main frame of the
 * app's window: a sender frame that still exists, has no parent, and shows an
 * app URL; and, when given, the expected webContents.
 */
export function isTrustedSender(
  event: Pick<IpcMainInvokeEvent, "senderFrame" | "sender">,
  source: Pick<RendererSource, "isAppUrl">,
  expected?: WebContents | null,
): boolean {
  let frame: WebFrameMain | null;
  try {
    frame = event.senderFrame; // throws or is null once the frame navigated away or was destroyed
  } catch {
    return false;
  }
  if (!frame) return false;
  if (frame.parent !== null) return false;
  if (!source.isAppUrl(frame.url)) return false;
  if (expected && event.sender !== expected) return false;
  return true;
}

export interface HardenOptions {
  source: Pick<RendererSource, "isAppUrl">;
  openExternal: (url: string) => void;
  log?: (message: string) => void;
}

/**
 * Every webContents (the window's and any other): no navigation away from the
 * app (links to safe https pages go to the system browser instead), no new
 * windows, no webviews.
 */
export function hardenWebContents(contents: WebContents, options: HardenOptions): void {
  const log = options.log ?? (() => {});
  const offerExternal = (url: string) => {
    if (isSafeExternalUrl(url)) options.openExternal(url);
    else log(`blocked a link to ${url.slice(0, 200)}`);
  };
  const onNavigate = (event: Event, url: string) => {
    if (options.source.isAppUrl(url)) return;
    event.preventDefault();
    offerExternal(url);
  };
  contents.on("will-navigate", (event, url) => onNavigate(event, url));
  contents.on("will-redirect", (event, url) => {
    if (!options.source.isAppUrl(url)) event.preventDefault();
  });
  contents.on("will-frame-navigate", (event) => {
    // Subframes may not navigate anywhere: the app has no iframes of its own.
    if (!event.isMainFrame) event.preventDefault();
  });
  contents.setWindowOpenHandler(({ url }) => {
    offerExternal(url);
    return { action: "deny" };
  });
  contents.on("will-attach-webview", (event) => event.preventDefault());
}

/**
 * Writing to the clipboard (the designer's Copy as PyTorch): the one
 * permission granted, and only to the app's own page. Reading it stays denied.
 */
export const CLIPBOARD_WRITE = "clipboard-sanitized-write";

/**
 * The session: every permission request and check denied except clipboard
 * writes from the app's own page, the CSP header on every response, and
 * downloads only from the app's own page (the renderer's Save and Export),
 * each through the native save dialog.
 */
export function hardenSession(
  session: Session,
  options: {
    source: Pick<RendererSource, "isAppUrl" | "csp">;
    documentsDir?: string;
    log?: (message: string) => void;
  },
): void {
  const log = options.log ?? (() => {});
  const allowed = (permission: string, url: string | undefined) =>
    permission === CLIPBOARD_WRITE && url !== undefined && options.source.isAppUrl(url);
  session.setPermissionRequestHandler((_contents, permission, callback, details) => {
    const ok = allowed(permission, details?.requestingUrl);
    if (!ok) log(`denied a permission request: ${permission}`);
    callback(ok);
  });
  session.setPermissionCheckHandler((_contents, permission, requestingOrigin) =>
    allowed(permission, requestingOrigin),
  );
  session.setDevicePermissionHandler(() => false);
  session.webRequest.onHeadersReceived((details, callback) => {
    const headers: Record<string, string[]> = {};
    for (const [key, value] of Object.entries(details.responseHeaders ?? {})) {
      if (key.toLowerCase() !== "content-security-policy") headers[key] = value;
    }
    headers["Content-Security-Policy"] = [options.source.csp];
    headers["X-Content-Type-Options"] = ["nosniff"];
    callback({ responseHeaders: headers });
  });
  session.on("will-download", (event, item, contents) => {
    const from = contents?.getURL?.() ?? "";
    const url = item.getURL();
    const local = url.startsWith("blob:") || url.startsWith("data:");
    if (!options.source.isAppUrl(from) || !local) {
      log(`blocked a download of ${url.slice(0, 200)}`);
      event.preventDefault();
      return;
    }
    const name = basename(item.getFilename()) || "download";
    const ext = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "";
    const filters = ext
      ? [
          { name: ext === "py" ? "Python" : ext.toUpperCase(), extensions: [ext] },
          { name: "All files", extensions: ["*"] },
        ]
      : [];
    item.setSaveDialogOptions({
      title: ext === "py" ? "Export to PyTorch" : "Save",
      defaultPath: options.documentsDir ? join(options.documentsDir, name) : name,
      filters,
    });
  });
}
