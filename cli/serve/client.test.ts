// The renderer's transport client (renderer/src/lib/transport) against the real web host,
// with `ws` standing in for the browser's WebSocket; and the `serve` command.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { ServiceEvent } from "../../core/service/contract.js";
import { type RunMethods, Service } from "../../core/service/service.js";
import {
  type ConnectionState,
  createClient,
  type StudioClient,
  StudioError,
  type WebSocketConstructor,
} from "../../renderer/src/lib/transport/index.js";
import * as rendererProtocol from "../../renderer/src/lib/transport/protocol.js";
import { registerServeCommand } from "../commands/serve.js";
import * as serverProtocol from "./protocol.js";
import { type RunningServer, startServer } from "./server.js";

/** runs.start emits a status event; runs.get never answers (a call left in flight). */
function fakeRuns(emit: (e: ServiceEvent) => void): RunMethods {
  const handlers: Record<string, unknown> = {
    "runs.start": () => {
      emit({ type: "run.status", runId: "run-1", status: "running" });
      return { id: "run-1", position: 0 };
    },
    "runs.get": () => new Promise(() => {}),
  };
  return { handlers: handlers as unknown as RunMethods["handlers"], close() {} };
}

const newService = () =>
  new Service({ home: mkdtempSync(join(tmpdir(), "serve-client-")), runs: fakeRuns });
const staticDir = join(tmpdir(), "no-renderer-here");
const WS = WebSocket as unknown as WebSocketConstructor;
const fast = { initialMs: 20, maxMs: 100 };

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function serve(service: Service, port = 0, token?: string): Promise<RunningServer> {
  const s = await startServer({ service, port, staticDir, ...(token ? { token } : {}) });
  cleanup.push(() => s.close());
  return s;
}

function clientFor(s: { port: number; token: string }, token = s.token): StudioClient {
  const c = createClient({
    bridge: null,
    WebSocket: WS,
    location: { protocol: "http:", host: `127.0.0.1:${s.port}`, search: `?token=${token}` },
    backoff: fast,
  });
  cleanup.push(() => c.close());
  return c;
}

function until(c: StudioClient, pred: (s: ConnectionState) => boolean, ms = 5_000) {
  return new Promise<ConnectionState>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`state stuck at ${c.state.status}`)), ms);
    const off = c.connection.subscribe((s) => {
      if (!pred(s)) return;
      clearTimeout(timer);
      queueMicrotask(() => off());
      resolve(s);
    });
  });
}

async function rejection(p: Promise<unknown>): Promise<StudioError> {
  const err = await p.then(
    () => new Error("expected a rejection"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StudioError);
  return err as StudioError;
}

describe("transport client over the WebSocket", () => {
  it("calls (queued until connected), gets structured errors and events", async () => {
    const service = newService();
    cleanup.push(() => service.close());
    const c = clientFor(await serve(service));
    expect(c.state).toMatchObject({ status: "connecting", transport: "websocket" });
    // Called before the socket opened: goes out once it does.
    const presets = await c.call("schedules.presets");
    expect(presets.map((p) => p.name)).toContain("paper-hybrid");
    expect(c.state).toMatchObject({ status: "open", opens: 1, attempt: 0 });
    const preview = await c.call("schedules.preview", { schedule: "cosine", maxPoints: 50 });
    expect(preview.epochs.length).toBeGreaterThan(0);
    const bad = await rejection(
      c.call("schedules.preview", { schedule: "cosine", datasetSize: -1 }),
    );
    expect(bad.toJSON()).toMatchObject({ code: "invalid-params", field: "datasetSize" });
    const events: ServiceEvent[] = [];
    c.on((e) => events.push(e));
    c.on(() => {
      throw new Error("a broken listener does not stop the others");
    });
    await c.call("runs.start", { spec: { model: "mlp" } });
    await expect
      .poll(() => events)
      .toEqual([{ type: "run.status", runId: "run-1", status: "running" }]);
  });

  it("refuses calls too large to send without sending them", async () => {
    const service = newService();
    cleanup.push(() => service.close());
    const s = await serve(service);
    const c = createClient({
      bridge: null,
      WebSocket: WS,
      location: { protocol: "http:", host: `127.0.0.1:${s.port}`, search: `?token=${s.token}` },
      maxMessageBytes: 1000,
    });
    cleanup.push(() => c.close());
    const err = await rejection(c.call("schedules.validate", { schedule: "é".repeat(600) }));
    expect(err.code).toBe("too-large");
  });

  it("after the server drops: in-flight calls fail with connection-lost, then it reconnects and events flow again", async () => {
    const service = newService();
    cleanup.push(() => service.close());
    const first = await serve(service);
    const c = clientFor(first);
    const events: ServiceEvent[] = [];
    c.on((e) => events.push(e));
    await c.call("schedules.presets");
    const inFlight = c.call("runs.get", { id: "run-1" });
    const lostP = rejection(inFlight);
    await new Promise((r) => setTimeout(r, 50));
    await first.close();
    const lost = await lostP;
    expect(lost.code).toBe("connection-lost");
    expect(lost.message).toMatch(/runs\.get.*connection lost.*may or may not have run/);
    const down = await until(c, (s) => s.status === "reconnecting");
    expect(down.lastError).toMatch(/1001/);
    // A call made while disconnected waits for the new connection instead of failing.
    const waiting = c.call("schedules.presets");
    await new Promise((r) => setTimeout(r, 150));
    // Same port and token: the server came back.
    await serve(service, first.port, first.token);
    expect((await waiting).length).toBeGreaterThan(0);
    expect(c.state).toMatchObject({ status: "open", opens: 2, attempt: 0 });
    await c.call("runs.start", { spec: {} });
    await expect.poll(() => events.length).toBe(1);
  });

  it("reports a refused token as unauthorized and stops retrying", async () => {
    const service = newService();
    cleanup.push(() => service.close());
    const s = await serve(service);
    const c = clientFor(s, "0".repeat(64));
    const call = rejection(c.call("schedules.presets"));
    const state = await until(c, (st) => st.status === "unauthorized");
    expect(state.lastError).toMatch(/token/);
    expect((await call).code).toBe("unauthorized");
    expect((await rejection(c.call("schedules.presets"))).code).toBe("unauthorized");
    // No token in the page URL at all: says so at once.
    const none = createClient({
      bridge: null,
      WebSocket: WS,
      location: { protocol: "http:", host: `127.0.0.1:${s.port}`, search: "" },
    });
    expect(none.state.status).toBe("unauthorized");
    expect((await rejection(none.call("schedules.presets"))).message).toMatch(/\?token=/);
  });

  it("close() rejects waiting calls and stops reconnecting", async () => {
    // Nothing listens on this port: the client keeps retrying until closed.
    const probe = await startServer({ service: newService(), port: 0, staticDir });
    const port = probe.port;
    await probe.close();
    const c = clientFor({ port, token: "t" });
    const call = c.call("schedules.presets");
    await until(c, (s) => s.status === "reconnecting" && s.attempt >= 2);
    c.close();
    expect((await rejection(call)).code).toBe("closed");
    expect(c.state.status).toBe("closed");
  });
});

describe("transport client over the Electron bridge", () => {
  it("is picked when window.sgdStudio exists, and keeps the service's error fields", async () => {
    const listeners = new Set<(e: ServiceEvent) => void>();
    const bridge = {
      call: async (method: string, params: unknown) => {
        if (method === "schedules.presets") return [{ name: "p", params }];
        throw { code: "invalid-params", message: "bad", field: "datasetSize" };
      },
      on: (l: (e: ServiceEvent) => void) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    };
    const g = globalThis as { sgdStudio?: unknown };
    g.sgdStudio = bridge;
    try {
      const c = createClient();
      expect(c.state).toMatchObject({ status: "open", transport: "electron" });
      expect(await c.call("schedules.presets")).toEqual([{ name: "p", params: {} }]);
      const err = await rejection(c.call("schedules.preview", { schedule: "x" }));
      expect(err.toJSON()).toEqual({
        code: "invalid-params",
        message: "bad",
        field: "datasetSize",
      });
      const got: ServiceEvent[] = [];
      const off = c.on((e) => got.push(e));
      for (const l of listeners) l({ type: "queue.changed", queue: [] });
      off();
      expect(listeners.size).toBe(0);
      expect(got).toEqual([{ type: "queue.changed", queue: [] }]);
    } finally {
      delete g.sgdStudio;
    }
  });
});

describe("protocol", () => {
  it("the renderer's copy agrees with the server's", () => {
    expect(rendererProtocol.MAX_MESSAGE_BYTES).toBe(serverProtocol.MAX_MESSAGE_BYTES);
    expect(rendererProtocol.WS_PATH).toBe(serverProtocol.WS_PATH);
    expect(rendererProtocol.PING_PATH).toBe(serverProtocol.PING_PATH);
  });
});

describe("sgd-studio serve", () => {
  function program() {
    let out = "";
    let err = "";
    const io = {
      out: (t: string) => {
        out += t;
      },
      err: (t: string) => {
        err += t;
      },
    };
    return { io, output: () => ({ out, err }) };
  }

  it("serves until stopped, then closes the server and the service", async () => {
    const { io, output } = program();
    let stop = () => {};
    let listening: RunningServer | undefined;
    let closed = false;
    const cmd = new Command().exitOverride();
    registerServeCommand(cmd, io, {
      createService: (home) => {
        const s = new Service({ home });
        const close = s.close.bind(s);
        s.close = async () => {
          closed = true;
          await close();
        };
        return s;
      },
      stopSignal: () =>
        new Promise<void>((r) => {
          stop = r;
        }),
      onListening: (s) => {
        listening = s;
      },
    });
    const home = mkdtempSync(join(tmpdir(), "serve-cmd-"));
    const done = cmd.parseAsync(["serve", "--port", "0", "--no-open", "--home", home], {
      from: "user",
    });
    await expect.poll(() => listening).toBeDefined();
    const s = listening as RunningServer;
    expect(output().out).toContain(s.url);
    expect(output().out).toContain(home);
    expect(output().err).toBe("");
    expect((await fetch(s.url)).status).toBe(200);
    stop();
    await done;
    expect(closed).toBe(true);
    await expect(fetch(s.url)).rejects.toThrow();
  });

  it("warns when bound beyond loopback and rejects a bad port", async () => {
    const { io, output } = program();
    let stop = () => {};
    let listening: RunningServer | undefined;
    const cmd = new Command().exitOverride();
    registerServeCommand(cmd, io, {
      stopSignal: () =>
        new Promise<void>((r) => {
          stop = r;
        }),
      onListening: (s) => {
        listening = s;
      },
    });
    const home = mkdtempSync(join(tmpdir(), "serve-cmd-"));
    const done = cmd.parseAsync(
      ["serve", "--host", "0.0.0.0", "--port", "0", "--no-open", "--home", home],
      {
        from: "user",
      },
    );
    await expect.poll(() => listening).toBeDefined();
    expect(output().err).toMatch(/warning: .*anyone on the network/);
    expect(output().out).toMatch(/http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}/);
    stop();
    await done;
    const bad = new Command().exitOverride();
    registerServeCommand(bad, io);
    await expect(
      bad.parseAsync(["serve", "--port", "70000", "--no-open"], { from: "user" }),
    ).rejects.toThrow(/--port must be/);
  });

  it("stops cleanly on SIGTERM (a real process)", async () => {
    const home = mkdtempSync(join(tmpdir(), "serve-sig-"));
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `import { main } from "./cli/main.ts"; process.exitCode = await main(["serve", "--port", "0", "--no-open", "--home", ${JSON.stringify(home)}]);`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    await expect.poll(() => /token=[0-9a-f]{64}/.test(out), { timeout: 15_000 }).toBe(true);
    const url = /http:\/\/\S+/.exec(out)?.[0] as string;
    const ws = new WebSocket(url.replace("http:", "ws:").replace("/?", "/ws?"));
    const wsClosed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    await new Promise((r) => ws.once("open", r));
    child.kill("SIGTERM");
    expect(await wsClosed).toBe(1001);
    expect(await exited).toBe(0);
    expect(out).toContain("stopping");
    expect(err).toBe("");
  }, 20_000);
});
