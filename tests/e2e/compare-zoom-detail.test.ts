// Compare on long runs, in Debian's Chromium: the overview comes from the store's summaries
// (min/max per bucket, within the point budget), and zooming asks the store again for the visible
// range only, which answers with finer data (every value once the range is short).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testSpec } from "../../core/store/fixtures.js";
import { RunStore } from "../../core/store/store.js";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

const STEPS = 40_000;
const run = chromiumAvailable();
let home = "";
let app: TestApp;
let browser: Browser;
const ids: string[] = [];

beforeAll(async () => {
  if (!run) return;
  home = mkdtempSync(join(tmpdir(), "e2e-zoom-"));
  const store = RunStore.open(home);
  for (const [r, name] of ["long-a", "long-b"].entries()) {
    const id = store.createRun(
      testSpec({
        seed: r,
        schedule: { version: 1, name, epochs: 100, lr: { kind: "cosine", base: 0.1 } },
      }),
    ).id;
    ids.push(id);
    store.setStatus(id, "running");
    const rec = store.recorder(id, { flushMs: 0, heartbeatMs: 0, flushRows: 8192 });
    for (let s = 0; s < STEPS; s++)
      rec.log(
        // A loss with a fine ripple (period 50 steps) the overview cannot show but a zoom can.
        { loss: Math.fround(1 / (1 + s / 4000) + 0.05 * Math.sin(s / 8) + 0.02 * r) },
        { step: s, epoch: Math.floor(s / 400), epochsDone: s / 400, samples: (s + 1) * 128 },
      );
    rec.record({
      type: "summary",
      status: "completed",
      epochs: 100,
      steps: STEPS,
      testAccuracy: null,
      bestTestAccuracy: null,
      bestEpoch: null,
      wallTime: 1,
      checkpoint: null,
    });
    rec.close();
  }
  store.close();
  app = await startApp(home);
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe.runIf(run)("Compare, zoom on long runs", () => {
  it("draws the summaries, then fetches the visible range again at finer detail", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const calls: { ids: string[]; from?: number; to?: number; maxPoints: number }[] = [];
    const answers: { downsampled: boolean; total: number; n: number }[][] = [];
    page.on("websocket", (ws) => {
      ws.on("framesent", (f) => {
        const m = JSON.parse(String(f.payload));
        if (m.method === "runs.metrics") calls.push(m.params);
      });
      ws.on("framereceived", (f) => {
        const m = JSON.parse(String(f.payload));
        if (Array.isArray(m.result) && m.result[0]?.xs)
          answers.push(
            m.result.map((s: { downsampled: boolean; total: number; xs: number[] }) => ({
              downsampled: s.downsampled,
              total: s.total,
              n: s.xs.length,
            })),
          );
      });
    });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.addInitScript((sel) => {
      localStorage.setItem("sgd-studio.compare.runs", sel);
    }, JSON.stringify(ids));
    await page.goto(`${app.server.url}#compare`);
    await page.waitForTimeout(3000);
    await page.screenshot({ path: join(ARTIFACTS, "compare-long-loading.png") });
    await page
      .locator('[data-testid="compare-view"][data-draw-done="true"]')
      .waitFor({ timeout: 60_000 });
    expect(errors).toEqual([]);
    // The overview: each loss series of 40,000 values in the view's point budget (two per pixel
    // of a chart's width, here ~480 px: under the 2,000 cap), the min/max envelope filling it.
    const asked = (calls[0] as { maxPoints: number }).maxPoints;
    expect(asked).toBeGreaterThan(600);
    expect(asked).toBeLessThanOrEqual(2000);
    const overview = answers.flat().filter((a) => a.total === STEPS);
    expect(overview.length).toBeGreaterThanOrEqual(2);
    for (const a of overview) {
      expect(a.downsampled).toBe(true);
      expect(a.n).toBeLessThanOrEqual(asked);
      expect(a.n).toBeGreaterThan(asked * 0.9);
    }
    await page.screenshot({ path: join(ARTIFACTS, "compare-long-overview.png") });

    // Drag over ~1.2% of the loss chart: the view asks for that range only.
    const canvas = page.locator("[data-testid=chart-loss] canvas");
    const box = (await canvas.boundingBox()) as {
      x: number;
      y: number;
      width: number;
      height: number;
    };
    const before = calls.length;
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.512, box.y + box.height / 2, { steps: 4 });
    await page.mouse.up();
    const note = page.locator('[data-testid="zoom-note"]:not([data-detail="none"])');
    await note.waitFor({ timeout: 60_000 });
    const zoomCalls = calls.slice(before).filter((c) => c.from !== undefined);
    expect(zoomCalls.length).toBeGreaterThanOrEqual(1);
    const z = zoomCalls[0] as { from: number; to: number };
    expect(z.to - z.from).toBeLessThan(STEPS * 0.1);
    // The zoomed range comes back with every value (a short range: within the point budget).
    const zoomed = (answers.at(-1) ?? []).filter((a) => a.total > 0);
    expect(zoomed.length).toBe(2);
    for (const a of zoomed) {
      expect(a.downsampled).toBe(false);
      expect(a.n).toBe(a.total);
      expect(a.n).toBeGreaterThan(500);
    }
    expect(await note.getAttribute("data-detail")).toBe("full");
    await page.screenshot({ path: join(ARTIFACTS, "compare-long-zoomed.png") });
    await page.close();
  }, 120_000);
});
