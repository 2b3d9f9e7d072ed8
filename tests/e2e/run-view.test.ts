// A new user's first minute, in a real browser: open the app on the web host,
// press Start run on the embedded dataset, watch the run progress to the end.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

describe.skipIf(!chromiumAvailable())("the run view in Chromium", () => {
  let browser: Browser;
  let app: TestApp;

  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "e2e-run-"));
    app = await startApp(home);
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it("one button starts a run on the embedded dataset; progress, metrics and charts update until it completes", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(app.server.url);
    await page.getByText("open", { exact: true }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "run-view-empty.png") });
    // The form opens ready: embedded dataset, mlp, the paper's hybrid preset.
    expect(await page.locator("select").first().inputValue()).toBe("default");
    await page.getByLabel("Epochs").fill("2");
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "running" }).waitFor({ timeout: 60_000 });
    await page.getByText(/step \d+\/\d+/).waitFor();
    await page.getByText(/test acc \d/).waitFor({ timeout: 120_000 });
    await page.screenshot({ path: join(ARTIFACTS, "run-view-running.png") });
    await page.getByTestId("status").filter({ hasText: "completed" }).waitFor({ timeout: 120_000 });
    const progress = await page.getByTestId("progress").textContent();
    const [, done, total] = /step (\d+)\/(\d+)/.exec(progress ?? "") ?? [];
    expect(Number(done)).toBe(Number(total));
    expect(await page.locator("canvas").count()).toBe(6);
    await page.screenshot({ path: join(ARTIFACTS, "run-view-completed.png"), fullPage: true });
    expect(errors).toEqual([]);
  });
});
