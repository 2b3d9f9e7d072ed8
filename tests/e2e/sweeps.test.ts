// The Sweeps view in a real browser over the real web host, library and training workers: open the
// paper-grid template, shrink it and validate it; create a small sweep from JSON, pause and resume
// it, watch it train to the end (progress, members table), and see the delta plot and the
// compute-matched comparison drawn.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../cli/serve/server.js";
import { startTraining } from "../../core/engine/worker-client.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";
import { ARTIFACTS, chromiumAvailable, launch } from "./browser.js";

const SWEEP = {
  version: 1,
  name: "e2e grid",
  base: {
    dataset: "default",
    model: "mlp",
    backend: "cpu",
    trainLimit: 300,
    testLimit: 100,
    epochs: 2,
    schedule: "paper-constant",
  },
  axes: {
    schedule: ["paper-constant", "paper-batch-growth"],
    lr: [0.02, 0.2],
    batchSize: [16, 64],
  },
  seeds: 2,
};

/** Distinct colors on a canvas: a drawn chart has its points and lines, an empty one only its frame. */
async function colorsOn(page: Page, testid: string): Promise<number> {
  return page
    .getByTestId(testid)
    .locator("canvas")
    .evaluate((c: HTMLCanvasElement) => {
      const ctx = c.getContext("2d") as CanvasRenderingContext2D;
      const data = ctx.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set<number>();
      for (let i = 0; i < data.length; i += 16)
        seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      return seen.size;
    });
}

describe.skipIf(!chromiumAvailable())("the Sweeps view in Chromium", () => {
  let browser: Browser;
  let page: Page;
  let service: Service;
  let server: Awaited<ReturnType<typeof startServer>>;
  const errors: string[] = [];

  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "e2e-sweeps-"));
    service = new Service({
      home,
      runs: runMethods({ home, launch: startTraining, concurrency: 2 }),
    });
    server = await startServer({ service, port: 0 });
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1440, height: 1300 } });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await service?.close();
  });

  it("opens and shrinks the paper's grid, creates a sweep, pauses, resumes and trains it to the end", async () => {
    await page.goto(`${server.url}#sweeps`);
    await page.getByTestId("sweeps-view").waitFor();
    await page.getByTestId("sweep-template").selectOption("paper-grid");
    expect(await page.getByTestId("sweep-json").inputValue()).toContain('"paper-batch-growth"');
    await page.getByTestId("shrink-epochs").fill("2");
    await page.getByTestId("shrink-model").fill("mlp");
    await page.getByTestId("shrink-dataset").fill("default");
    await page.getByText("Validate").click();
    await page.getByTestId("sweep-check").filter({ hasText: "100 members" }).waitFor();

    // A bad document names the field.
    await page
      .getByTestId("sweep-json")
      .fill(JSON.stringify({ ...SWEEP, axes: { lr: { range: [1, 0.1], count: 2 } } }));
    await page.getByText("Validate").click();
    await page.getByTestId("sweep-check").filter({ hasText: "axes.lr.range" }).waitFor();

    await page.getByTestId("shrink-epochs").fill("");
    await page.getByTestId("shrink-model").fill("");
    await page.getByTestId("shrink-dataset").fill("");
    await page.getByTestId("sweep-json").fill(JSON.stringify(SWEEP, null, 2));
    await page.getByTestId("sweep-create").click();
    await page.getByTestId("sweep-detail").waitFor();
    await page.getByTestId("sweep-pause").click();
    await page.getByTestId("sweep-detail").getByText("paused").first().waitFor();
    const rows = page.getByTestId("sweep-members").locator("tbody tr");
    expect(await rows.count()).toBe(16);
    await page.getByTestId("sweep-resume").click();
    await page
      .getByTestId("sweep-progress")
      .filter({ hasText: /[1-9]\d*\/16 done/ })
      .waitFor({ timeout: 120_000 });
    await page.screenshot({ path: join(ARTIFACTS, "sweeps-running.png"), fullPage: true });
    await page
      .getByTestId("sweep-progress")
      .filter({ hasText: "16/16 done" })
      .waitFor({ timeout: 400_000 });
    expect(
      await page.getByTestId("sweep-members").locator('tr[data-status="completed"]').count(),
    ).toBe(16);
    expect(await page.getByTestId("sweep-groups").locator("tbody tr").count()).toBe(8);
    await page
      .getByTestId("sweep-matched")
      .getByText(/At samples \d/)
      .waitFor();
    // Both charts drawn (points and lines, not an empty frame).
    await expect
      .poll(() => colorsOn(page, "sweep-delta-chart"), { timeout: 15_000 })
      .toBeGreaterThan(8);
    await expect
      .poll(() => colorsOn(page, "sweep-matched-chart"), { timeout: 15_000 })
      .toBeGreaterThan(8);
    await page.getByTestId("sweep-delta-chart").scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, "sweeps-finished.png"), fullPage: true });
    await page.getByTestId("sweep-match-by").selectOption("epoch");
    await page
      .getByTestId("sweep-matched")
      .getByText(/At epoch 2/)
      .waitFor({ timeout: 15_000 });
    expect(errors).toEqual([]);
  }, 600_000);
});
