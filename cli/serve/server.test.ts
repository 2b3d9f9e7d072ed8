// The web host against real clients: fetch and raw node:http for HTTP, `ws` for the WebSocket.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { ServiceEvent } from "../../core/service/contract.js";
import { type RunMethods, Service } from "../../core/service/service.js";
import { hostAllowed, loopbackHosts, tokensEqual } from "./auth.js";
import { parseCall, peekId } from "./protocol.js";
import { type RunningServer, startServer } from "./server.js";

const SECRET = "TOP-SECRET-OUTSIDE-THE-STATIC-FOLDER";

/** A static folder with an index, an asset, a dotfile, a subfolder and a symlink out; a secret next to it. */
function staticFixture(): { root: string; secretPath: string } {
  const base = mkdtempSync(join(tmpdir(), "serve-static-"));
  const root = join(base, "renderer");
  mkdirSync(join(root, "assets"), { recursive: true });
  writeFileSync(join(root, "index.html"), '<!doctype html><script src="/assets/app.js"></script>');
  writeFileSync(join(root, "assets", "app.js"), "console.log('app');");
  writeFileSync(join(root, ".env"), SECRET);
  const secretPath = join(base, "secret.txt");
  writeFileSync(secretPath, SECRET);
  symlinkSync(base, join(root, "link-out"));
  return { root, secretPath };
}

/** A run library double: runs.start emits a status event; runs.get waits until released. */
function fakeRuns(emit: (e: ServiceEvent) => void): RunMethods {
  const notHere = () => {
    throw Object.assign(new Error("no such run"), { code: "not-found", field: "id" });
  };
  const handlers = {
    "runs.start": () => {
      emit({ type: "run.status", runId: "run-1", status: "running" });
      return { id: "run-1", position: 0 };
    },
    "runs.get": notHere,
  } as Record<string, unknown>;
  for (const m of [
    "runs.pause",
    "runs.resume",
    "runs.stop",
    "runs.list",
    "runs.metrics",
    "runs.tag",
    "runs.untag",
    "runs.note",
    "runs.delete",
    "runs.export",
    "runs.import",
  ])
    handlers[m] = notHere;
  return { handlers: handlers as unknown as RunMethods["handlers"], close() {} };
}

function newService(): Service {
  return new Service({ home: mkdtempSync(join(tmpdir(), "serve-home-")), runs: fakeRuns });
}

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET with the path sent exactly as given (fetch would normalize `/../` away). */
function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Opens a WebSocket; resolves when open or with the HTTP status that refused it. */
function connect(
  url: string,
  options: WebSocket.ClientOptions = {},
): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once("open", () => resolve({ ws }));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once("error", (err) => reject(err));
  });
}

/** A connected client that collects every message. */
async function client(url: string) {
  const r = await connect(url);
  if (!("ws" in r)) throw new Error(`refused: ${r.status}`);
  const { ws } = r;
  const messages: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  ws.on("message", (data) => {
    messages.push(JSON.parse(data.toString()));
    for (const w of waiters.splice(0)) w();
  });
  const next = async (pred: (m: Record<string, unknown>) => boolean, timeoutMs = 5_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = messages.findIndex(pred);
      if (i >= 0) return messages.splice(i, 1)[0] as Record<string, unknown>;
      if (Date.now() > deadline) throw new Error("no such message in time");
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  let nextId = 1;
  const call = async (method: string, params?: unknown) => {
    const id = nextId++;
    ws.send(JSON.stringify({ id, method, params }));
    return next((m) => m.id === id);
  };
  return { ws, messages, next, call };
}

let server: RunningServer;
let service: Service;
let fixture: ReturnType<typeof staticFixture>;
let wsUrl: string;
let origin: string;

beforeAll(async () => {
  fixture = staticFixture();
  service = newService();
  server = await startServer({ service, port: 0, staticDir: fixture.root, maxMessageBytes: 4096 });
  wsUrl = `ws://127.0.0.1:${server.port}/ws?token=${server.token}`;
  origin = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.close();
  await service.close();
});

describe("HTTP", () => {
  it("prints a loopback URL with a 64-hex-digit token", () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    expect(server.token).toMatch(/^[0-9a-f]{64}$/);
    expect(server.port).toBeGreaterThan(0);
  });

  it("refuses requests without the right token (401)", async () => {
    const base = `http://127.0.0.1:${server.port}`;
    for (const path of ["/", "/index.html", "/assets/app.js", "/api/ping", "/?token="]) {
      const res = await fetch(base + path);
      expect(res.status).toBe(401);
      expect(await res.text()).toMatch(/token/);
    }
    const wrong = server.token.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    expect((await fetch(`${base}/?token=${wrong}`)).status).toBe(401);
    expect((await fetch(`${base}/?token=${server.token}x`)).status).toBe(401);
    expect(
      (await fetch(base, { headers: { Cookie: `sgd-studio-token-1=${server.token}` } })).status,
    ).toBe(401);
  });

  it("serves the renderer with CSP, nosniff and a cookie for its assets", async () => {
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await res.text()).toContain("/assets/app.js");
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    const directive = (name: string) =>
      csp
        .split(";")
        .map((d) => d.trim())
        .find((d) => d.startsWith(`${name} `));
    expect(directive("script-src")).toBe("script-src 'self'");
    expect(directive("style-src")).toBe("style-src 'self'");
    expect(csp).not.toMatch(/unsafe-eval/);
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${server.port}`);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    // The page's assets load with the cookie alone, or with the token as a bearer header.
    const asset = await fetch(`http://127.0.0.1:${server.port}/assets/app.js`, {
      headers: { Cookie: cookie.split(";")[0] as string },
    });
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await asset.text()).toContain("app");
    const bearer = await fetch(`http://127.0.0.1:${server.port}/assets/app.js`, {
      headers: { Authorization: `Bearer ${server.token}` },
    });
    expect(bearer.status).toBe(200);
    expect(
      (await fetch(`http://127.0.0.1:${server.port}/api/ping?token=${server.token}`)).status,
    ).toBe(204);
    const post = await fetch(server.url, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
  });

  it("refuses path traversal, dotfiles, directories and symlinks out of the folder", async () => {
    const t = `token=${server.token}`;
    const attempts = [
      "/../secret.txt",
      "/assets/../../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E%2Fsecret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/..%5csecret.txt",
      "/%2e%2e%5csecret.txt",
      "/link-out/secret.txt",
      "/.env",
      "/assets/%2e%2e/.env",
      `/${fixture.secretPath}`,
      `//${fixture.secretPath}`,
      `/${encodeURIComponent(fixture.secretPath)}`,
      "/%00index.html",
      "/%zz",
      "/assets",
      "/assets/",
    ];
    for (const path of attempts) {
      const res = await rawGet(server.port, `${path}?${t}`);
      expect(res.body, path).not.toContain(SECRET);
      expect([400, 403, 404], path).toContain(res.status);
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
    }
    expect((await rawGet(server.port, `/assets/?${t}`)).body).not.toContain("app.js");
    // Absolute-form request targets are refused too.
    expect(
      (await rawGet(server.port, `http://127.0.0.1/${fixture.secretPath}?${t}`)).body,
    ).not.toContain(SECRET);
  });

  it("says how to build the renderer when dist/renderer is missing", async () => {
    const s = await startServer({
      service,
      port: 0,
      staticDir: join(tmpdir(), "no-such-renderer-folder"),
    });
    try {
      const res = await fetch(s.url);
      expect(res.status).toBe(200);
      const page = await res.text();
      expect(page).toMatch(/not built/);
      expect(page).toContain("npm run build");
      expect(page).not.toMatch(/<script|style=/);
      expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect((await fetch(`http://127.0.0.1:${s.port}/x.js?token=${s.token}`)).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  it("compares tokens in full", () => {
    expect(tokensEqual("abc", "abc")).toBe(true);
    expect(tokensEqual("abc", "abd")).toBe(false);
    expect(tokensEqual("ab", "abc")).toBe(false);
    expect(tokensEqual("", "abc")).toBe(false);
  });
});

describe("WebSocket", () => {
  it("refuses upgrades without the token (401) and from other origins (403)", async () => {
    const base = `ws://127.0.0.1:${server.port}/ws`;
    expect(await connect(base)).toEqual({ status: 401 });
    expect(await connect(`${base}?token=nope`)).toEqual({ status: 401 });
    // The cookie is for the page's files only: the socket wants the token in its URL.
    expect(
      await connect(base, {
        headers: { Cookie: `sgd-studio-token-${server.port}=${server.token}` },
      }),
    ).toEqual({ status: 401 });
    expect(await connect(`ws://127.0.0.1:${server.port}/other?token=${server.token}`)).toEqual({
      status: 404,
    });
    for (const evil of [
      "http://evil.example",
      `http://127.0.0.1:${server.port + 1}`,
      `http://127.0.0.1.evil.example:${server.port}`,
      "null",
    ]) {
      expect(await connect(wsUrl, { origin: evil }), evil).toEqual({ status: 403 });
    }
    const ok = await connect(wsUrl, { origin });
    expect("ws" in ok).toBe(true);
    if ("ws" in ok) ok.ws.close();
  });

  it("round-trips calls through service.call", async () => {
    const c = await client(wsUrl);
    const presets = await c.call("schedules.presets", {});
    expect((presets.result as { name: string }[]).map((p) => p.name)).toContain("paper-hybrid");
    const preview = await c.call("schedules.preview", { schedule: "paper-hybrid", maxPoints: 100 });
    const p = preview.result as { epochs: unknown[]; totals: { updates: number } };
    expect(p.epochs).toHaveLength(200);
    expect(p.totals.updates).toBe(40_800);
    // String ids work too.
    c.ws.send(JSON.stringify({ id: "a-1", method: "schedules.presets" }));
    expect((await c.next((m) => m.id === "a-1")).result).toBeInstanceOf(Array);
    c.ws.close();
  });

  it("returns the service's structured errors with code, message and field", async () => {
    const c = await client(wsUrl);
    const bad = await c.call("schedules.preview", { schedule: "cosine", datasetSize: -5 });
    expect(bad.error).toMatchObject({ code: "invalid-params", field: "datasetSize" });
    expect((bad.error as { message: string }).message).toMatch(/datasetSize/);
    expect((await c.call("schedules.nope", {})).error).toMatchObject({ code: "unknown-method" });
    expect((await c.call("__proto__")).error).toMatchObject({ code: "unknown-method" });
    expect((await c.call("runs.get", { id: "x" })).error).toEqual({
      code: "not-found",
      message: "no such run",
      field: "id",
    });
    c.ws.close();
  });

  it("pushes service events to every connected client", async () => {
    const a = await client(wsUrl);
    const b = await client(wsUrl);
    const started = await a.call("runs.start", { spec: { model: "mlp" } });
    expect(started.result).toEqual({ id: "run-1", position: 0 });
    const expected = { event: { type: "run.status", runId: "run-1", status: "running" } };
    expect(await a.next((m) => "event" in m)).toEqual(expected);
    expect(await b.next((m) => "event" in m)).toEqual(expected);
    a.ws.close();
    b.ws.close();
  });

  it("answers malformed, id-less, binary and oversized messages with errors and keeps serving", async () => {
    const c = await client(wsUrl);
    c.ws.send("this is not JSON");
    expect(await c.next(() => true)).toMatchObject({ id: null, error: { code: "bad-message" } });
    c.ws.send('{"id":42,"method":"schedules.presets",');
    expect(await c.next(() => true)).toMatchObject({ id: 42, error: { code: "bad-message" } });
    c.ws.send(JSON.stringify({ method: "schedules.presets", params: {} }));
    expect(await c.next(() => true)).toMatchObject({
      id: null,
      error: { code: "bad-message", field: "id" },
    });
    for (const junk of ["[1,2]", "null", "17", '"str"', '{"id":{}}', '{"id":""}']) {
      c.ws.send(junk);
      expect(await c.next(() => true), junk).toMatchObject({
        id: null,
        error: { code: "bad-message" },
      });
    }
    c.ws.send(Buffer.from('{"id":1}'), { binary: true });
    expect(await c.next(() => true)).toMatchObject({ error: { code: "bad-message" } });
    // This server's cap is 4 KiB: the answer still finds the caller by the id it put first.
    c.ws.send(
      JSON.stringify({
        id: 99,
        method: "schedules.validate",
        params: { schedule: "x".repeat(8_000) },
      }),
    );
    expect(await c.next(() => true)).toMatchObject({ id: 99, error: { code: "too-large" } });
    // Missing params are {} (the service decides), and the connection still works.
    expect((await c.call("schedules.presets")).result).toBeInstanceOf(Array);
    c.ws.close();
    // Far past the cap (ws's own limit), the socket is closed, not the server.
    const big = await client(wsUrl);
    const closed = new Promise<number>((r) => big.ws.once("close", (code) => r(code)));
    big.ws.send("x".repeat(4096 * 4 + 1024 * 1024));
    expect(await closed).toBe(1009);
    const after = await client(wsUrl);
    expect((await after.call("schedules.presets", {})).result).toBeInstanceOf(Array);
    after.ws.close();
  });

  it("answers calls that arrive together one by one: a quick one is not held back by a slow one", async () => {
    // runs.list answers at once; runs.metrics holds the thread 300 ms (the library's queries are
    // synchronous). Sent in one write, the list's answer must not wait for the metrics call.
    const slow: (emit: (e: ServiceEvent) => void) => RunMethods = (emit) => {
      const base = fakeRuns(emit);
      const handlers = { ...base.handlers } as Record<string, unknown>;
      handlers["runs.list"] = () => [];
      handlers["runs.metrics"] = () => {
        const until = performance.now() + 300;
        while (performance.now() < until) {}
        return [];
      };
      return { handlers: handlers as unknown as RunMethods["handlers"], close() {} };
    };
    const svc = new Service({ home: mkdtempSync(join(tmpdir(), "serve-home-")), runs: slow });
    const host = await startServer({ service: svc, port: 0, staticDir: fixture.root });
    try {
      // The client in a process of its own: here, the busy thread would hold its receiving too.
      const script = `
        import WebSocket from "ws";
        const ws = new WebSocket(process.argv[1]);
        const t0 = performance.now();
        const at = {};
        ws.on("open", () => {
          ws._socket.cork();
          ws.send(JSON.stringify({ id: 1, method: "runs.list", params: {} }));
          ws.send(JSON.stringify({ id: 2, method: "runs.metrics", params: { ids: ["a"], keys: ["loss"] } }));
          ws._socket.uncork();
        });
        ws.on("message", (d) => {
          at[JSON.parse(String(d)).id] = performance.now() - t0;
          if (at[1] !== undefined && at[2] !== undefined) {
            console.log(JSON.stringify(at));
            ws.close();
          }
        });`;
      const out = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          [
            "--input-type=module",
            "-e",
            script,
            `ws://127.0.0.1:${host.port}/ws?token=${host.token}`,
          ],
          { cwd: process.cwd(), timeout: 20_000 },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        );
      });
      const at = JSON.parse(out) as Record<string, number>;
      expect((at[2] as number) - (at[1] as number)).toBeGreaterThan(200);
    } finally {
      await host.close();
      await svc.close();
    }
  });

  it("closes its sockets with 1001 on close()", async () => {
    const s = await startServer({ service, port: 0, staticDir: fixture.root });
    const c = await client(`ws://127.0.0.1:${s.port}/ws?token=${s.token}`);
    expect(s.connections()).toBe(1);
    const closed = new Promise<number>((r) => c.ws.once("close", (code) => r(code)));
    await s.close();
    expect(await closed).toBe(1001);
    await expect(fetch(s.url)).rejects.toThrow();
  });
});

describe("protocol helpers", () => {
  it("finds the id of a message it cannot parse when the id comes first", () => {
    expect(peekId('{"id":12,"method":')).toBe(12);
    expect(peekId(' { "id" : "abc", ')).toBe("abc");
    expect(peekId('{"method":"x","id":1}')).toBeNull();
    expect(peekId('{"id":1.5e3')).toBeNull();
    expect(parseCall('{"id":3,"method":"m","params":{"a":1}}')).toEqual({
      id: 3,
      method: "m",
      params: { a: 1 },
    });
  });
});

describe("Host header (DNS rebinding)", () => {
  const status = async (port: number, host: string, token: string) =>
    (await rawGet(port, `/api/ping?token=${token}`, { Host: host })).status;
  const upgrade = (port: number, host: string, token: string) =>
    connect(`ws://127.0.0.1:${port}/ws?token=${token}`, { headers: { Host: host } });

  it("on loopback, answers only to localhost, 127.0.0.1 and [::1] (any port: tunnels), on HTTP and WebSocket", async () => {
    const p = server.port;
    for (const good of [
      `localhost:${p}`,
      `127.0.0.1:${p}`,
      `[::1]:${p}`,
      `LocalHost:${p}`,
      `127.0.0.1:${p + 1}`,
      "localhost",
    ]) {
      expect(await status(p, good, server.token), good).toBe(204);
      const ws = await upgrade(p, good, server.token);
      expect("ws" in ws, good).toBe(true);
      if ("ws" in ws) ws.ws.close();
    }
    for (const evil of [
      `evil.example:${p}`,
      `127.0.0.1.evil.example:${p}`,
      `localhost.evil.example:${p}`,
      `127.0.0.2:${p}`,
      "evil.example",
      `[::2]:${p}`,
    ]) {
      // Even with the right token.
      const res = await rawGet(p, `/?token=${server.token}`, { Host: evil });
      expect(res.status, evil).toBe(403);
      expect(res.body).toBe(
        `403 Forbidden: this SGD Studio server answers only to localhost, 127.0.0.1, [::1], not to Host ${JSON.stringify(evil)} (a defence against DNS rebinding); open the URL that \`sgd-studio serve\` printed\n`,
      );
      expect(res.headers["set-cookie"], evil).toBeUndefined();
      expect(await upgrade(p, evil, server.token), evil).toEqual({ status: 403 });
    }
    // A malformed Host is still 400.
    expect(await status(p, "a b", server.token)).toBe(400);
    expect(await upgrade(p, "a b", server.token)).toEqual({ status: 400 });
  });

  it("the list: the loopback names and the bound 127.x address, any port", () => {
    expect(loopbackHosts("127.0.0.1")).toEqual(["localhost", "127.0.0.1", "[::1]"]);
    expect(loopbackHosts("127.0.0.2")).toEqual(["localhost", "127.0.0.1", "[::1]", "127.0.0.2"]);
    const list = loopbackHosts("127.0.0.1");
    // A tunnel from another local port keeps the name: accepted.
    expect(hostAllowed("127.0.0.1:9000", list)).toBe(true);
    expect(hostAllowed("LOCALHOST", list)).toBe(true);
    expect(hostAllowed("127.0.0.1.evil.example:8765", list)).toBe(false);
    expect(hostAllowed("evil.example:8765", list)).toBe(false);
    expect(hostAllowed("127.0.0.2:8765", list)).toBe(false);
  });

  it("bound to another 127.x address, answers to that address; allowedHosts adds names", async () => {
    const svc = newService();
    const s = await startServer({
      service: svc,
      host: "127.0.0.2",
      port: 0,
      staticDir: fixture.root,
      allowedHosts: ["studio.internal:9000"],
    });
    try {
      const get = (host: string) =>
        new Promise<number>((resolve, reject) => {
          const req = request(
            {
              host: "127.0.0.2",
              port: s.port,
              path: `/api/ping?token=${s.token}`,
              headers: { Host: host },
            },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on("error", reject);
          req.end();
        });
      expect(await get(`127.0.0.2:${s.port}`)).toBe(204);
      expect(await get(`localhost:${s.port}`)).toBe(204);
      expect(await get("localhost:9000")).toBe(204);
      expect(await get("studio.internal:9000")).toBe(204);
      expect(await get("studio.internal:9001")).toBe(403);
      expect(await get(`127.0.0.3:${s.port}`)).toBe(403);
      expect(await get("evil.example:9000")).toBe(403);
    } finally {
      await s.close();
      await svc.close();
    }
  });

  it("bound beyond loopback on purpose (--host 0.0.0.0), any well-formed Host is accepted as before", async () => {
    const svc = newService();
    const s = await startServer({
      service: svc,
      host: "0.0.0.0",
      port: 0,
      staticDir: fixture.root,
    });
    try {
      expect(await status(s.port, `evil.example:${s.port}`, s.token)).toBe(204);
      expect(await status(s.port, `192.168.1.20:${s.port}`, s.token)).toBe(204);
      expect(await status(s.port, `evil.example:${s.port}`, "nope")).toBe(401);
      expect(await status(s.port, "a b", s.token)).toBe(400);
    } finally {
      await s.close();
      await svc.close();
    }
  });
});
