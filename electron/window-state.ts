/**
 * The main window's size and position, remembered across launches in a small
 * JSON file in the app's userData folder, and clamped to what is visible now
 * (a monitor may have been unplugged since).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState {
  /** Absent on first launch: the window is centred. */
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export const DEFAULT_SIZE = { width: 1280, height: 820 };
export const MIN_SIZE = { width: 720, height: 480 };
/** How much of a window must lie on a display for its saved position to be kept. */
const MIN_VISIBLE = { width: 160, height: 80 };
const MAX_DIMENSION = 100_000;

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && Math.abs(v) <= MAX_DIMENSION;
}

/** The saved state, or null when there is none or it is unreadable or malformed. */
export function readWindowState(file: string): WindowState | null {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null) return null;
  const d = data as Record<string, unknown>;
  if (!finite(d.width) || !finite(d.height) || d.width <= 0 || d.height <= 0) return null;
  const state: WindowState = {
    width: Math.round(d.width),
    height: Math.round(d.height),
    maximized: d.maximized === true,
  };
  if (finite(d.x) && finite(d.y)) {
    state.x = Math.round(d.x);
    state.y = Math.round(d.y);
  }
  return state;
}

/** Writes the state atomically (a crash never leaves half a file). */
export function writeWindowState(file: string, state: WindowState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state)}\n`);
  renameSync(tmp, file);
}

function overlap(a: Rect, b: Rect): { width: number; height: number } {
  return {
    width: Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)),
    height: Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y)),
  };
}

function clampSize(width: number, height: number, area: Rect) {
  return {
    width: Math.min(Math.max(width, Math.min(MIN_SIZE.width, area.width)), area.width),
    height: Math.min(Math.max(height, Math.min(MIN_SIZE.height, area.height)), area.height),
  };
}

function centred(width: number, height: number, area: Rect): Rect {
  const size = clampSize(width, height, area);
  return {
    x: Math.round(area.x + (area.width - size.width) / 2),
    y: Math.round(area.y + (area.height - size.height) / 2),
    ...size,
  };
}

/**
 * Bounds for the window on the displays there are now (their work areas):
 * kept where it was if enough of it shows on one display, moved and shrunk
 * to lie wholly on that display; otherwise centred on the primary display.
 * Never larger than the display, never smaller than MIN_SIZE unless the display is.
 */
export function clampToDisplays(
  state: WindowState | null,
  workAreas: readonly Rect[],
  primary: Rect,
): Rect {
  const width = state?.width ?? DEFAULT_SIZE.width;
  const height = state?.height ?? DEFAULT_SIZE.height;
  if (!state || state.x === undefined || state.y === undefined) {
    return centred(width, height, primary);
  }
  const wanted: Rect = { x: state.x, y: state.y, width, height };
  let best: Rect | null = null;
  let bestArea = 0;
  for (const area of workAreas) {
    const o = overlap(wanted, area);
    if (o.width >= Math.min(MIN_VISIBLE.width, area.width) && o.height >= MIN_VISIBLE.height) {
      if (o.width * o.height > bestArea) {
        best = area;
        bestArea = o.width * o.height;
      }
    }
  }
  if (!best) return centred(width, height, primary);
  const size = clampSize(width, height, best);
  return {
    x: Math.min(Math.max(wanted.x, best.x), best.x + best.width - size.width),
    y: Math.min(Math.max(wanted.y, best.y), best.y + best.height - size.height),
    ...size,
  };
}

/** What a window reports, enough to save its state. */
export interface StatefulWindow {
  getNormalBounds(): Rect;
  isMaximized(): boolean;
  isDestroyed(): boolean;
  on(event: "resize" | "move" | "close", listener: () => void): unknown;
}

/**
 * Saves the window's state when it closes and, debounced, while it is moved
 * or resized (so a crash keeps the last layout). Returns a function that saves now.
 */
export function trackWindowState(
  window: StatefulWindow,
  file: string,
  options: { debounceMs?: number; onError?: (err: unknown) => void } = {},
): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const save = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (window.isDestroyed()) return;
    try {
      const b = window.getNormalBounds();
      writeWindowState(file, {
        x: b.x,
        y: b.y,
        width: b.width,
        height: b.height,
        maximized: window.isMaximized(),
      });
    } catch (err) {
      options.onError?.(err);
    }
  };
  const later = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(save, options.debounceMs ?? 500);
    timer.unref?.();
  };
  window.on("resize", later);
  window.on("move", later);
  window.on("close", save);
  return save;
}
