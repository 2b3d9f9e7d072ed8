// The preload against a mocked `electron` module, as Podman Desktop tests its preload. It is
// compiled to CommonJS as tsc does and run the way Electron runs a sandboxed preload: wrapped in a
// function whose `require` knows "electron" and nothing else.
import { readFileSync } from "node:fs";
import ts from "typescript";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { METHODS } from "../core/api/contract.js";
import { menuCommandOf } from "../renderer/src/lib/menu.js";
import { createBridgeClient } from "../renderer/src/lib/transport/bridge.js";
import {
  CALL_CHANNEL_PREFIX,
  EVENT_CHANNEL,
  METHOD_NAME_PATTERN,
  type SgdStudioBridge,
} from "./bridge.js";
import * as electron from "./test/fake-electron.js";
import { contextBridge, ipcRenderer } from "./test/fake-electron.js";

const PRELOAD = new URL("./preload.cts", import.meta.url);

let bridge: SgdStudioBridge;
let exposed: unknown[][];
let required: string[];

/** Compiles preload.cts as the build does and runs it in a sandboxed preload's wrapper. */
function runSandboxedPreload(): string[] {
  const { outputText } = ts.transpileModule(readFileSync(PRELOAD, "utf8"), {
    fileName: "preload.cts",
    compilerOptions: { module: ts.ModuleKind.NodeNext, target: ts.ScriptTarget.ES2022 },
  });
  const names: string[] = [];
  const sandboxRequire = (name: string) => {
    names.push(name);
    if (name === "electron") return electron;
    throw new Error(`module not found: ${name}`);
  };
  const module = { exports: {} };
  const wrapper = new Function(
    "require",
    "process",
    "Buffer",
    "global",
    "setImmediate",
    "clearImmediate",
    "exports",
    "module",
    outputText,
  );
  wrapper(
    sandboxRequire,
    {},
    undefined,
    globalThis,
    setImmediate,
    clearImmediate,
    module.exports,
    module,
  );
  return names;
}

beforeAll(() => {
  electron.resetFakeElectron();
  required = runSandboxedPreload();
  exposed = contextBridge.exposeInMainWorld.mock.calls.map((c) => [...c]);
  bridge = exposed[0]?.[1] as SgdStudioBridge;
});

beforeEach(() => {
  ipcRenderer.invoke.mockReset();
});

describe("the preload", () => {
  it("exposes one object, sgdStudio, with call and on and nothing else", () => {
    expect(exposed).toHaveLength(1);
    expect(exposed[0]?.[0]).toBe("sgdStudio");
    expect(Object.keys(bridge).sort()).toEqual(["call", "on"]);
    expect(typeof bridge.call).toBe("function");
    expect(typeof bridge.on).toBe("function");
  });

  it("uses the same channels and method check as the main process (it cannot import them)", () => {
    const source = readFileSync(PRELOAD, "utf8");
    expect(source).toContain(`const CALL_CHANNEL_PREFIX = "${CALL_CHANNEL_PREFIX}";`);
    expect(source).toContain(`const EVENT_CHANNEL = "${EVENT_CHANNEL}";`);
    expect(source).toContain(`const METHOD_NAME_PATTERN = ${METHOD_NAME_PATTERN.toString()};`);
    for (const method of Object.keys(METHODS)) expect(METHOD_NAME_PATTERN.test(method)).toBe(true);
    // Sandboxed preloads may require "electron" only.
    expect(required).toEqual(["electron"]);
  });

  it("call invokes the method's channel and unwraps the result", async () => {
    ipcRenderer.invoke.mockResolvedValueOnce({ ok: true, result: [{ name: "paper-hybrid" }] });
    await expect(bridge.call("schedules.presets", {})).resolves.toEqual([{ name: "paper-hybrid" }]);
    expect(ipcRenderer.invoke).toHaveBeenCalledWith("sgd:call:schedules.presets", {});
    ipcRenderer.invoke.mockResolvedValueOnce({ ok: true, result: [] });
    await bridge.call("datasets.list");
    expect(ipcRenderer.invoke).toHaveBeenLastCalledWith("sgd:call:datasets.list", undefined);
  });

  it("rejects with the plain structured error (it survives contextBridge's copy)", async () => {
    const error = { code: "invalid-params", message: "x: bad", field: "x" };
    ipcRenderer.invoke.mockResolvedValueOnce({ ok: false, error });
    const got = await bridge.call("schedules.preview", { schedule: 1 } as never).catch((e) => e);
    expect(got).toEqual(error);
    expect(got).not.toBeInstanceOf(Error);
  });

  it("refuses bad method names and non-object params without asking the main process", async () => {
    for (const method of ["", "x", "sgd:call:x", "../x", "a.b c", 42, null]) {
      await expect(bridge.call(method as never)).rejects.toMatchObject({ code: "unknown-method" });
    }
    for (const params of ["s", 1, null, [1]]) {
      await expect(bridge.call("schedules.presets", params as never)).rejects.toMatchObject({
        code: "invalid-params",
      });
    }
    expect(ipcRenderer.invoke).not.toHaveBeenCalled();
  });

  it("turns transport failures into structured errors", async () => {
    ipcRenderer.invoke.mockRejectedValueOnce(
      new Error(
        "Error invoking remote method 'sgd:call:no.such': No handler registered for 'sgd:call:no.such'",
      ),
    );
    await expect(bridge.call("no.such" as never)).rejects.toMatchObject({ code: "unknown-method" });
    ipcRenderer.invoke.mockRejectedValueOnce(new Error("refused"));
    await expect(bridge.call("schedules.presets")).rejects.toEqual({
      code: "internal",
      message: "refused",
    });
    ipcRenderer.invoke.mockResolvedValueOnce("garbage");
    await expect(bridge.call("schedules.presets")).rejects.toMatchObject({ code: "internal" });
  });

  it("on passes the event only (not the IPC event) and unsubscribes", () => {
    const listener = vi.fn();
    const off = bridge.on(listener);
    const payload = { type: "run.status", runId: "r", status: "running" };
    ipcRenderer.emit(EVENT_CHANNEL, { sender: ipcRenderer }, payload);
    expect(listener).toHaveBeenCalledWith(payload);
    expect(listener.mock.calls[0]).toHaveLength(1);
    off();
    ipcRenderer.emit(EVENT_CHANNEL, { sender: ipcRenderer }, payload);
    expect(listener).toHaveBeenCalledTimes(1);
    expect(ipcRenderer.listenerCount(EVENT_CHANNEL)).toBe(0);
    expect(() => bridge.on("nope" as never)).toThrow(TypeError);
  });

  it("carries the File menu's events to the renderer's client, which turns them into Designer commands", () => {
    const client = createBridgeClient(bridge);
    const got: unknown[] = [];
    const off = client.on((e) => {
      got.push(menuCommandOf(e));
    });
    const opened = { type: "app.schedule-opened", name: "mine.json", content: "{}" };
    ipcRenderer.emit(EVENT_CHANNEL, { sender: ipcRenderer }, opened);
    ipcRenderer.emit(
      EVENT_CHANNEL,
      { sender: ipcRenderer },
      { type: "app.menu", command: "schedule.save" },
    );
    ipcRenderer.emit(
      EVENT_CHANNEL,
      { sender: ipcRenderer },
      {
        type: "app.menu",
        command: "schedule.export-pytorch",
      },
    );
    ipcRenderer.emit(
      EVENT_CHANNEL,
      { sender: ipcRenderer },
      { type: "app.error", message: "too big" },
    );
    ipcRenderer.emit(EVENT_CHANNEL, { sender: ipcRenderer }, { type: "queue.changed", queue: [] });
    expect(got).toEqual([
      { type: "open", name: "mine.json", content: "{}" },
      { type: "save" },
      { type: "export-pytorch" },
      { type: "error", message: "too big" },
      null,
    ]);
    off();
    client.close();
    expect(ipcRenderer.listenerCount(EVENT_CHANNEL)).toBe(0);
  });
});
