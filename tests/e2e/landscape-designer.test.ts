// The Landscape view runs the Designer's schedule beside the default set, and exports its table as
// CSV (Chromium, the real web host).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

describe.skipIf(!chromiumAvailable())("landscape: the Designer's schedule, table export", () => {
  let browser: Browser;
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp(mkdtempSync(join(tmpdir(), "e2e-landscape-designer-")));
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it("a design from the Designer is simulated with the others; the table exports as CSV", async () => {
    const page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // In the Designer: the paper's LR decay preset, named.
    await page.goto(`${app.server.url}#designer`);
    await page.getByTestId("preset-paper-lr-decay").click();
    await page.getByTestId("name").fill("my decay");
    await page.getByTestId("name").press("Tab");
    await page.getByTestId("tab-landscape").click();
    const summary = page.getByTestId("landscape-summary");
    await summary.waitFor({ timeout: 30_000 });
    await page.getByTestId("seeds").fill("100");
    await page.getByTestId("with-designer").check();
    await expect
      .poll(() => summary.textContent(), { timeout: 30_000 })
      .toMatch(/100 seeds × 8 schedules/);
    const row = page.getByTestId("row-designer: my decay");
    await row.waitFor();
    // The preset's schedule as designed: the same delta path and updates as the preset's row; its own
    // simulated noise, so its own rate (each schedule draws its own noise stream).
    const cells = async (testid: string) =>
      (await page.getByTestId(testid).locator("td").allTextContents()).slice(1);
    const mineRow = await cells("row-designer: my decay");
    expect(mineRow.slice(0, 2)).toEqual((await cells("row-paper-lr-decay")).slice(0, 2));
    expect(mineRow[2]).toMatch(/\d+\.\d% \[\d+\.\d, \d+\.\d\]/);
    await page.screenshot({ path: join(ARTIFACTS, "landscape-designer.png"), fullPage: true });
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("landscape-csv").click(),
    ]);
    expect(download.suggestedFilename()).toBe("landscape-rastrigin-100-seeds.csv");
    const lines = readFileSync((await download.path()) as string, "utf8")
      .trim()
      .split("\n");
    expect(lines[0]).toMatch(/^schedule,epochs,updates,delta_start,delta_end,.*success_rate/);
    expect(lines).toHaveLength(9);
    const mine = lines.find((l) => l.startsWith("designer: my decay,"))?.split(",");
    const preset = lines.find((l) => l.startsWith("paper-lr-decay,"))?.split(",");
    // epochs, updates, delta start and end, final LR and batch: the preset's.
    expect(mine?.slice(1, 7)).toEqual(preset?.slice(1, 7));
    expect(Number(mine?.[9])).toBeGreaterThanOrEqual(0);
    expect(errors).toEqual([]);
  });
});
