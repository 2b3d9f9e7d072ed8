// The compare view in a real browser over the real web host and run library: runs recorded through
// the library's own recorder (the events a training run emits), opened side by side; x axis,
// smoothing, grouping, zoom, the table and spec diff, CSV and PNG export.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrainEvent } from "../../core/engine/events.js";
import { testSpec } from "../../core/store/fixtures.js";
import { RunStore } from "../../core/store/store.js";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

const TRAIN = 6400;

/** A small deterministic random stream per seed. */
function rng(seed: number): () => number {
  let a = seed * 2654435761 + 1;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The events of a training run: noisy falling loss, cosine LR, batch constant or doubling each epoch. */
function* fakeRun(seed: number, growBatch: boolean, epochs = 6): Generator<TrainEvent> {
  const r = rng(seed);
  const batches = Array.from({ length: epochs }, (_, e) =>
    growBatch ? 32 * 2 ** Math.floor(e / 2) : 32,
  );
  const steps = batches.reduce((n, b) => n + Math.ceil(TRAIN / b), 0);
  yield {
    type: "start",
    backend: "cpu",
    backendSummary: "cpu (fixture)",
    dataset: { name: "fixture", train: TRAIN, test: 1000, shape: [28, 28, 1], source: "test" },
    model: { name: "mlp", parameters: 1000 },
    epochs,
    steps,
    startEpoch: 0,
    warnings: [],
  };
  let step = 0;
  let samples = 0;
  for (let e = 0; e < epochs; e++) {
    const b = batches[e] as number;
    for (let i = 0; i < Math.ceil(TRAIN / b); i++, step++) {
      samples += b;
      const lr = 0.05 * (1 + Math.cos((Math.PI * step) / steps));
      yield {
        type: "step",
        step,
        epoch: e,
        loss: 0.35 + 2 * Math.exp(-samples / 9000) + 0.25 * (r() - 0.5) + seed * 0.01,
        lr,
        batchSize: b,
        delta: (lr * 3) / Math.sqrt(b),
        deltaMethod: "two-batch-estimate",
        gradNorm: 1 + r(),
        samples,
        throughput: 900 + 100 * r(),
      };
    }
    const acc = 0.62 + 0.25 * (1 - Math.exp(-(e + 1) / 2)) + (growBatch ? 0.02 : 0) + 0.01 * r();
    yield {
      type: "epoch",
      epoch: e,
      trainLoss: 1 / (1 + e),
      trainAccuracy: acc + 0.03,
      testLoss: 1.1 / (1 + e),
      testAccuracy: acc,
      wallTime: e + 1,
      noiseC: 3,
      tensors: 10,
    };
  }
  yield {
    type: "summary",
    status: "completed",
    epochs,
    steps,
    testAccuracy: null,
    bestTestAccuracy: null,
    bestEpoch: null,
    wallTime: epochs,
    checkpoint: null,
  };
}

function seedLibrary(home: string): { constant: string[]; growing: string } {
  const store = RunStore.open(home);
  const schedule = (name: string, batch: unknown) => ({
    version: 1,
    name,
    epochs: 6,
    lr: { kind: "cosine", lr: 0.1 },
    batch,
  });
  const record = (seed: number, grow: boolean) => {
    const spec = testSpec({
      seed,
      schedule: grow
        ? schedule("batch-growth", { kind: "step", size: 32, factor: 2, every: 2 })
        : schedule("cosine", { kind: "constant", size: 32 }),
    });
    const run = store.createRun(spec);
    let t = 0;
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0, clock: () => t });
    for (const ev of fakeRun(seed, grow)) {
      if (ev.type === "step") t += 12;
      rec.record(ev);
    }
    rec.close();
    return run.id;
  };
  const constant = [record(1, false), record(2, false), record(3, false)];
  const growing = record(1, true);
  store.close();
  return { constant, growing };
}

describe.skipIf(!chromiumAvailable())("the compare view in Chromium", () => {
  let browser: Browser;
  let app: TestApp;
  let ids: { constant: string[]; growing: string };
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "e2e-compare-"));
    ids = seedLibrary(home);
    app = await startApp(home);
    browser = await launch();
    page = await browser.newPage({
      viewport: { width: 1440, height: 1000 },
      acceptDownloads: true,
    });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const view = () => page.getByTestId("compare-view");
  /** Waits until the charts have drawn everything after the last change of this kind. */
  async function drawn(kind: string): Promise<number> {
    await page
      .locator(`[data-testid="compare-view"][data-draw-done="true"][data-draw-kind="${kind}"]`)
      .waitFor({ timeout: 20_000 });
    return Number(await view().getAttribute("data-draw-ms"));
  }

  it("two runs side by side: samples seen by default (batch schedules differ), x axis and smoothing change, CSV export", async () => {
    await page.goto(`${app.server.url}#compare`);
    await page.getByTestId(`pick-${ids.constant[1]}`).check();
    await page.getByTestId(`pick-${ids.growing}`).check();
    await drawn("select");
    // Different batch schedules: compared by samples seen, not steps.
    expect(await page.getByTestId("x-axis").inputValue()).toBe("samples");
    expect(await page.locator("[data-testid=chart-loss] canvas").count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, "compare-two-runs.png"), fullPage: true });

    // The table: last and best with their steps, one row per run and metric.
    const table = page.getByTestId("metric-table");
    expect(await table.locator("tbody tr").count()).toBe(4);
    await expect.poll(() => table.locator("tbody").textContent()).toMatch(/testAccuracy/);

    // Spec diff: only the fields that differ (seed and the batch lane), or everything.
    const diff = page.getByTestId("spec-diff");
    const paths = await diff.locator("td.path").allTextContents();
    expect(paths).toContain("seed");
    expect(paths).toContain("schedule.batch.kind");
    expect(paths).not.toContain("model");
    await page.getByTestId("only-differences").uncheck();
    expect(await diff.locator("td.path").allTextContents()).toContain("model");

    // x axis: epochs.
    await page.getByTestId("x-axis").selectOption("epoch");
    await drawn("xaxis");
    // Smoothing: a new weight redraws from the data already loaded.
    await page.getByTestId("smoothing-value").fill("0.9");
    await page.getByTestId("smoothing-value").press("Enter");
    const ms = await drawn("smoothing");
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(2000);

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("export-csv").click(),
    ]);
    expect(download.suggestedFilename()).toBe("compare-metrics-epoch.csv");
    const csv = readFileSync((await download.path()) as string, "utf8");
    const lines = csv.trim().split("\n");
    expect(lines[0]).toBe("run_id,run_name,key,step,epoch,value,smoothed");
    const loss = lines.slice(1).filter((l) => l.includes(`${ids.growing},batch-growth,loss,`));
    // Every step of the run is there (700 steps: under the 2,000-point budget), raw and smoothed.
    expect(loss.length).toBe(200 + 200 + 100 + 100 + 50 + 50);
    const [, , , step, epoch, value, smoothed] = (loss[1] as string).split(",");
    expect(Number(step)).toBe(1);
    expect(Number(epoch)).toBeGreaterThan(0);
    expect(Number(smoothed)).not.toBe(Number(value));
    const accRows = lines.filter((l) => l.includes(",testAccuracy,"));
    expect(accRows).toHaveLength(12);
    await page.screenshot({ path: join(ARTIFACTS, "compare-epoch-smoothed.png"), fullPage: true });
  });

  it("zoom by dragging on a chart, reset; PNG export of a chart", async () => {
    const canvas = page.locator("[data-testid=chart-loss] canvas");
    const box = (await canvas.boundingBox()) as {
      x: number;
      y: number;
      width: number;
      height: number;
    };
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
    await page.mouse.up();
    await page.getByTestId("reset-zoom").waitFor();
    await drawn("zoom");
    await page.screenshot({ path: join(ARTIFACTS, "compare-zoomed.png") });
    await page.getByTestId("reset-zoom").click();
    await page.getByTestId("reset-zoom").waitFor({ state: "detached" });

    const [png] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("chart-loss-png").click(),
    ]);
    const bytes = readFileSync((await png.path()) as string);
    expect(bytes.subarray(1, 4).toString()).toBe("PNG");
    expect(bytes.length).toBeGreaterThan(5000);
  });

  it("groups seeds into a mean with a band; accuracy against delta across runs", async () => {
    for (const id of [ids.constant[0], ids.constant[2]])
      await page.getByTestId(`pick-${id}`).check();
    await drawn("select");
    await page.getByTestId("group-by").selectOption("allButSeed");
    await drawn("group");
    await page.getByTestId("band").selectOption("std");
    await drawn("band");
    await page.screenshot({ path: join(ARTIFACTS, "compare-grouped.png"), fullPage: true });
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("chart-testAccuracy-csv").click(),
    ]);
    const csv = readFileSync((await download.path()) as string, "utf8")
      .trim()
      .split("\n");
    expect(csv[0]).toBe("group,key,epoch,mean,mean_minus_std,mean_plus_std,runs");
    // The three cosine seeds form one group, the batch-growth run another.
    expect(
      csv.some((l) => l.startsWith("cosine · mlp · sgd,testAccuracy,") && l.endsWith(",3")),
    ).toBe(true);
    expect(csv.some((l) => l.startsWith("batch-growth · mlp · sgd,testAccuracy,"))).toBe(true);

    const delta = page.getByTestId("delta-view");
    await delta.scrollIntoViewIfNeeded();
    await delta.getByText("4 runs plotted").waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "compare-delta.png"), fullPage: true });
    expect(errors).toEqual([]);
  });
});
