// The Library and Compare views with a sweep-sized library (250 runs, written by the real recorder)
// in Chromium: only the rows in view are in the page, yet every run is reachable by scrolling,
// search and "select all"; a 20-run Compare load draws each chart a bounded number of times (not
// once per arriving chunk) with every run's line, and at a point budget set by the chart's width.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testSpec } from "../../core/store/fixtures.js";
import { RunStore } from "../../core/store/store.js";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

const RUNS = 250;
const STEPS = 1500;

/** RUNS completed runs of STEPS steps each (loss every step, test accuracy every 500). */
function writeLibrary(home: string): string[] {
  const store = RunStore.open(home);
  const ids: string[] = [];
  for (let r = 0; r < RUNS; r++) {
    const run = store.createRun(testSpec({ seed: r }));
    ids.push(run.id);
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0, flushRows: 4096 });
    rec.record({
      type: "start",
      backend: "cpu",
      backendSummary: "cpu (test)",
      dataset: { name: "t", train: 1000, test: 100, shape: [28, 28, 1], source: "test" },
      model: { name: "mlp", parameters: 10 },
      epochs: 3,
      steps: STEPS,
      startEpoch: 0,
      warnings: [],
    });
    for (let s = 0; s < STEPS; s++) {
      const epoch = Math.floor(s / 500);
      rec.log(
        { loss: 2 * Math.exp(-s / 800) + 0.01 * r + 0.05 * Math.sin(s * 0.3) },
        { step: s, epoch, epochsDone: s / 500, samples: (s + 1) * 32, wallTime: s * 0.01 },
      );
      if ((s + 1) % 500 === 0)
        rec.record({
          type: "epoch",
          epoch,
          trainLoss: 0.5,
          trainAccuracy: 0.8,
          testLoss: 0.6,
          testAccuracy: 0.7 + 0.05 * epoch + r / 10_000,
          wallTime: s * 0.01,
        });
    }
    rec.record({
      type: "summary",
      status: "completed",
      epochs: 3,
      steps: STEPS,
      testAccuracy: null,
      bestTestAccuracy: null,
      bestEpoch: null,
      wallTime: STEPS * 0.01,
      checkpoint: null,
    });
    rec.close();
  }
  store.close();
  return ids;
}

describe.skipIf(!chromiumAvailable())("a sweep-sized library in Chromium", () => {
  let browser: Browser;
  let app: TestApp;
  let page: Page;
  let ids: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "e2e-library-scale-"));
    ids = writeLibrary(home);
    app = await startApp(home);
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const table = () => page.getByTestId("runs-table");
  const drawnRows = () =>
    page.locator("[data-testid=runs-table] tbody tr[data-testid^=row-]").count();

  it("the Library lists every run, draws the rows in view, and reaches any run", async () => {
    await page.goto(`${app.server.url}#library`);
    await page.getByText(`${RUNS} of ${RUNS} runs`).waitFor({ timeout: 30_000 });
    expect(await table().getAttribute("data-rows-total")).toBe(String(RUNS));
    const drawn = await drawnRows();
    expect(drawn).toBeGreaterThan(20);
    expect(drawn).toBeLessThan(80);
    // Newest first: the first run written is the last row; it is drawn once scrolled to.
    const last = page.getByTestId(`row-${ids[0]}`);
    expect(await last.count()).toBe(0);
    await page.locator(".table-wrap").evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await last.waitFor({ timeout: 10_000 });
    expect(await drawnRows()).toBeLessThan(80);
    await page.screenshot({ path: join(ARTIFACTS, "library-scale-scrolled.png") });

    // Search finds a run whatever its place; "select all shown" takes every run, drawn or not.
    const id = ids[137] as string;
    await page.getByTestId("library-search").fill(id);
    await page.getByTestId(`row-${id}`).waitFor();
    expect(await drawnRows()).toBe(1);
    await page.getByTestId("library-search").fill("");
    await page.getByText(`${RUNS} of ${RUNS} runs`).waitFor();
    await page.getByLabel("select all shown").check();
    await page.getByText(`Compare (${RUNS})`).waitFor();
    await page.getByLabel("select all shown").uncheck();
    await page.getByText("Compare (0)").waitFor();
    expect(errors).toEqual([]);
  });

  it("Compare: 20 runs drawn in a bounded number of redraws, a picker that scrolls to any run", async () => {
    const chosen = ids.slice(0, 20);
    await page.evaluate(
      (s) => localStorage.setItem("sgd-studio.compare.runs", s),
      JSON.stringify(chosen),
    );
    await page.goto(`${app.server.url}#compare`);
    await page.reload();
    await page
      .locator('[data-testid="compare-view"][data-draw-done="true"]')
      .waitFor({ timeout: 60_000 });
    const loss = page.getByTestId("chart-loss");
    // Every run's line (smoothed, over its faint raw line), each of the whole run.
    const lines = ((await loss.getAttribute("data-lines")) ?? "").split("|");
    expect(lines.filter((l) => !l.includes("~")).length).toBe(20);
    expect(lines.filter((l) => l.includes("~")).length).toBe(20);
    // The point budget: two per pixel of a ~560 px chart, under the 2,000 cap, but more than the
    // chart's plot width (the min/max envelope keeps each pixel column's extremes).
    const points = Number(/~:(\d+)/.exec(lines.find((l) => l.includes("~")) ?? "")?.[1]);
    expect(points).toBeGreaterThan(600);
    expect(points).toBeLessThan(2000);
    // Drawn empty at mount, then the first chunk, then the rest: not once per chunk of 4 runs.
    expect(Number(await loss.getAttribute("data-draws"))).toBeLessThanOrEqual(5);

    // The picker draws the runs in its view; scrolling reaches the oldest, and picking it adds it.
    const list = page.locator("ul[data-runs-total]");
    expect(await list.getAttribute("data-runs-total")).toBe(String(RUNS));
    expect(Number(await list.getAttribute("data-runs-drawn"))).toBeLessThan(80);
    const extra = ids[25] as string;
    expect(await page.getByTestId(`pick-${extra}`).count()).toBe(0);
    await list.evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await page.getByTestId(`pick-${extra}`).check();
    await page.getByText("21 selected").waitFor();
    await page.locator('[data-testid="compare-view"][data-draw-done="true"]').waitFor();
    await expect
      .poll(
        async () =>
          ((await loss.getAttribute("data-lines")) ?? "").split("|").filter((l) => !l.includes("~"))
            .length,
      )
      .toBe(21);
    await page.screenshot({ path: join(ARTIFACTS, "compare-scale.png") });
    expect(errors).toEqual([]);
  });

  it("a reload asks for the selection's series before the run list, each once; a run deleted since is let go", async () => {
    const chosen = ids.slice(30, 50);
    await page.evaluate(
      (s) => localStorage.setItem("sgd-studio.compare.runs", s),
      JSON.stringify(chosen),
    );
    const done = () =>
      page
        .locator('[data-testid="compare-view"][data-draw-done="true"]')
        .waitFor({ timeout: 60_000 });
    await page.reload();
    await done(); // drawn once: the view remembers the axis it drew this selection on

    // What goes over the WebSocket during the next reload, in order.
    type Frame = {
      dir: "sent" | "got";
      id: unknown;
      method?: string;
      ids?: string[];
      keys?: string[];
    };
    const frames: Frame[] = [];
    page.on("websocket", (ws) => {
      ws.on("framesent", (f) => {
        const m = JSON.parse(String(f.payload));
        frames.push({
          dir: "sent",
          id: m.id,
          method: m.method,
          ids: m.params?.ids,
          keys: m.params?.keys,
        });
      });
      ws.on("framereceived", (f) => {
        const m = JSON.parse(String(f.payload));
        if ("id" in m) frames.push({ dir: "got", id: m.id });
      });
    });
    const chartCalls = () =>
      frames.filter((f) => f.method === "runs.metrics" && f.keys?.includes("loss"));
    await page.reload();
    await done();
    const list = frames.findIndex((f) => f.method === "runs.list");
    const listAnswer = frames.findIndex((f) => f.dir === "got" && f.id === frames[list]?.id);
    const firstMetrics = frames.indexOf(chartCalls()[0] as Frame);
    expect(list).toBeGreaterThanOrEqual(0);
    expect(firstMetrics).toBeGreaterThanOrEqual(0);
    // Asked before the list's answer came (20 runs: one call, sent just before the list): the
    // series did not wait for it.
    expect(firstMetrics).toBeLessThan(list);
    expect(firstMetrics).toBeLessThan(listAnswer);
    // Every selected run's series asked for exactly once.
    const asked = chartCalls().flatMap((f) => f.ids ?? []);
    expect([...asked].sort()).toEqual([...chosen].sort());
    const loss = page.getByTestId("chart-loss");
    const smoothed = async () =>
      ((await loss.getAttribute("data-lines")) ?? "").split("|").filter((l) => !l.includes("~"))
        .length;
    expect(await smoothed()).toBe(20);

    // A run deleted elsewhere since: the early call (which names it) fails; the view lets the run
    // go and draws the others, with no error shown.
    const gone = chosen[3] as string;
    await app.service.call("runs.delete", { id: gone });
    frames.length = 0;
    await page.reload();
    await done();
    await expect.poll(smoothed).toBe(19);
    expect(await page.locator('[data-testid="compare-view"] [role="alert"]').count()).toBe(0);
    expect(await page.getByText("19 selected").count()).toBe(1);
    expect(chartCalls().some((f) => f.ids?.includes(gone))).toBe(true);
    expect(errors).toEqual([]);
  });
});
