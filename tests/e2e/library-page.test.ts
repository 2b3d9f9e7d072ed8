// The library in Chromium over a library of recorded runs: the epochs/steps column counts as the
// Run view does, a run's page draws its charts (delta scheduled and measured included), and a run
// renamed there is shown by its new name in the table, its page, Compare and its export.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrainEvent } from "../../core/engine/events.js";
import { syntheticRun, testSpec } from "../../core/store/fixtures.js";
import { RunStore } from "../../core/store/store.js";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

describe.skipIf(!chromiumAvailable())("the library's run page and renaming in Chromium", () => {
  let browser: Browser;
  let app: TestApp;
  let page: Page;
  let id = "";
  let other = "";
  const errors: string[] = [];

  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "e2e-library-page-"));
    const store = RunStore.open(home);
    const record = (seed: number, epochs: number, stop: number) => {
      const run = store.createRun(testSpec({ seed }));
      const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
      for (const e of syntheticRun({ epochs, stepsPerEpoch: 20, finish: "none" })) {
        if ("epoch" in e && e.epoch >= stop) break;
        // The scheduled delta and C's re-estimations every 5 steps, as a trainer reports them.
        const ev: TrainEvent =
          e.type === "step"
            ? {
                ...e,
                deltaScheduled: 1,
                noiseC: 2 + Math.floor(e.step / 5) / 10,
                noiseUpdated: e.step % 5 === 0,
                deltaMethod: "two-batch-estimate",
                delta: (0.1 * (2 + Math.floor(e.step / 5) / 10)) / Math.sqrt(32),
              }
            : e;
        rec.record(ev);
      }
      rec.finish(stop < epochs ? "stopped" : "completed");
      rec.close();
      return run.id;
    };
    id = record(1, 3, 3);
    other = record(2, 3, 2);
    store.close();
    app = await startApp(home);
    browser = await launch();
    page = await browser.newPage({
      viewport: { width: 1440, height: 1200 },
      acceptDownloads: true,
    });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it("epochs and steps column; a run's page with its charts", async () => {
    await page.goto(`${app.server.url}#library`);
    const row = page.getByTestId(`row-${id}`);
    await row.waitFor();
    expect(await row.textContent()).toContain("3/3 · 60 steps");
    expect(await page.getByTestId(`row-${other}`).textContent()).toContain("2/3 · 40 steps");
    await row.locator("button.link").click();
    const details = page.getByTestId("run-details");
    await details.locator('[data-testid="run-charts"][data-loaded="true"]').waitFor();
    expect(await details.locator("canvas").count()).toBe(6);
    const delta = details.locator('figure[data-title^="Smoothing"]');
    expect(await delta.getAttribute("data-lines")).toBe(
      "δ/δ₀ scheduled:60|δ measured (lr·Ĉ/√b):60|Ĉ re-estimated:12",
    );
    expect(await details.getByTestId("details-progress").textContent()).toMatch(/^3\/3 · 60 steps/);
    await page.screenshot({ path: join(ARTIFACTS, "library-run-page.png"), fullPage: true });
  });

  it("renamed: the new name in the table, the run's page, Compare and the export", async () => {
    const details = page.getByTestId("run-details");
    await details.getByTestId("rename-input").fill("baseline, seed 1");
    await details.getByTestId("rename-save").click();
    const row = page.getByTestId(`row-${id}`);
    await expect.poll(() => row.locator("td.name").textContent()).toContain("baseline, seed 1");
    expect(await row.textContent()).toContain("test-cosine"); // the schedule column keeps it
    await expect.poll(() => details.locator("h3").textContent()).toContain("baseline, seed 1");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      details.getByRole("button", { name: "Export JSON" }).click(),
    ]);
    const { readFileSync } = await import("node:fs");
    const doc = JSON.parse(readFileSync((await download.path()) as string, "utf8"));
    expect(doc.runs[0].environment.displayName).toBe("baseline, seed 1");
    await page.screenshot({ path: join(ARTIFACTS, "library-renamed.png"), fullPage: true });
    await page.goto(`${app.server.url}#compare`);
    await page.getByTestId(`pick-${id}`).waitFor();
    expect(await page.getByTestId(`picked-${id}`).textContent()).toContain("baseline, seed 1");
    expect(errors).toEqual([]);
  });
});
