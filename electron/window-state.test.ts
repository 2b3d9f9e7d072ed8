import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import {
  clampToDisplays,
  DEFAULT_SIZE,
  MIN_SIZE,
  readWindowState,
  trackWindowState,
  writeWindowState,
} from "./window-state.js";

const laptop = { x: 0, y: 0, width: 1440, height: 875 };
const external = { x: 1440, y: -200, width: 2560, height: 1400 };

describe("reading and writing the state", () => {
  it("round-trips, and anything malformed reads as no state", () => {
    const dir = mkdtempSync(join(tmpdir(), "winstate-"));
    const file = join(dir, "sub", "window-state.json");
    expect(readWindowState(file)).toBeNull();
    writeWindowState(file, { x: 10, y: 20, width: 1000, height: 700, maximized: true });
    expect(readWindowState(file)).toEqual({
      x: 10,
      y: 20,
      width: 1000,
      height: 700,
      maximized: true,
    });
    for (const bad of [
      "not json",
      "null",
      "[]",
      '{"width": "wide", "height": 10}',
      '{"width": -5, "height": 10}',
      '{"width": 1e308, "height": 10}',
    ]) {
      writeFileSync(file, bad);
      expect(readWindowState(file), bad).toBeNull();
    }
    writeFileSync(file, '{"width": 900.4, "height": 600, "x": null, "maximized": "yes"}');
    expect(readWindowState(file)).toEqual({ width: 900, height: 600, maximized: false });
  });
});

describe("clamping to the displays there are", () => {
  it("first launch: default size, centred on the primary display", () => {
    expect(clampToDisplays(null, [laptop], laptop)).toEqual({
      x: (1440 - DEFAULT_SIZE.width) / 2,
      y: Math.round((875 - DEFAULT_SIZE.height) / 2),
      ...DEFAULT_SIZE,
    });
  });

  it("keeps a window that is visible where it was", () => {
    const state = { x: 100, y: 50, width: 1000, height: 700, maximized: false };
    expect(clampToDisplays(state, [laptop, external], laptop)).toEqual({
      x: 100,
      y: 50,
      width: 1000,
      height: 700,
    });
    const onExternal = { x: 2000, y: 0, width: 1600, height: 1000, maximized: false };
    expect(clampToDisplays(onExternal, [laptop, external], laptop)).toEqual({
      x: 2000,
      y: 0,
      width: 1600,
      height: 1000,
    });
  });

  it("a window left on an unplugged monitor comes back centred on the primary display", () => {
    const state = { x: 2000, y: 0, width: 1600, height: 1000, maximized: false };
    const r = clampToDisplays(state, [laptop], laptop);
    expect(r).toEqual({ x: 0, y: 0, width: 1440, height: 875 });
  });

  it("a window mostly off-screen is pulled onto the display it overlaps most, and shrunk to fit", () => {
    const state = { x: 1200, y: 700, width: 800, height: 600, maximized: false };
    const r = clampToDisplays(state, [laptop], laptop);
    expect(r).toEqual({ x: 640, y: 275, width: 800, height: 600 });
    const huge = { x: -50, y: -50, width: 5000, height: 3000, maximized: false };
    expect(clampToDisplays(huge, [laptop], laptop)).toEqual(laptop);
    // A sliver of 20 px is not "visible".
    const sliver = { x: 1420, y: 100, width: 800, height: 600, maximized: false };
    expect(clampToDisplays(sliver, [laptop], laptop)).toEqual({
      x: 320,
      y: 138,
      width: 800,
      height: 600,
    });
  });

  it("never below the minimum size, unless the display itself is smaller", () => {
    const tiny = { x: 0, y: 0, width: 10, height: 10, maximized: false };
    expect(clampToDisplays(tiny, [laptop], laptop)).toMatchObject(MIN_SIZE);
    const small = { x: 0, y: 0, width: 640, height: 400 };
    expect(clampToDisplays(tiny, [small], small)).toMatchObject({ width: 640, height: 400 });
  });
});

describe("tracking a window", () => {
  it("saves on close, and debounced while moving or resizing", () => {
    vi.useFakeTimers();
    try {
      const file = join(mkdtempSync(join(tmpdir(), "winstate-")), "window-state.json");
      let bounds = { x: 1, y: 2, width: 900, height: 700 };
      let maximized = false;
      const win = Object.assign(new EventEmitter(), {
        getNormalBounds: () => bounds,
        isMaximized: () => maximized,
        isDestroyed: () => false,
      });
      trackWindowState(win, file, { debounceMs: 100 });
      bounds = { x: 30, y: 40, width: 1000, height: 750 };
      win.emit("move");
      win.emit("resize");
      expect(readWindowState(file)).toBeNull();
      vi.advanceTimersByTime(150);
      expect(readWindowState(file)).toEqual({ ...bounds, maximized: false });
      maximized = true;
      win.emit("close");
      expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ ...bounds, maximized: true });
    } finally {
      vi.useRealTimers();
    }
  });
});
