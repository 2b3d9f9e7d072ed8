// The Run view's form in Chromium: each paper preset shows its whole shape in the
// run's epochs, choices survive a tab switch, and an epoch-time schedule cut short
// warns with a choice between truncating and fitting it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

describe.skipIf(!chromiumAvailable())("the run form in Chromium", () => {
  let browser: Browser;
  let app: TestApp;

  beforeAll(async () => {
    app = await startApp(mkdtempSync(join(tmpdir(), "e2e-run-form-")));
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const plan = (page: Page) => page.getByTestId("plan").textContent();

  it("the four paper presets give four different plans at 5 epochs; choices survive a tab switch", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(app.server.url);
    await page.getByTestId("plan").waitFor();
    await page.getByLabel("Epochs").fill("5");
    const seen = new Map<string, string>();
    for (const name of ["paper-constant", "paper-lr-decay", "paper-batch-growth", "paper-hybrid"]) {
      await page.getByTestId("schedule").selectOption(name);
      await expect.poll(async () => (await plan(page)) ?? "").not.toBe(seen.get("last") ?? "");
      const text = (await plan(page)) ?? "";
      seen.set(name, text);
      seen.set("last", text);
      expect(await page.getByTestId("run-warning").count()).toBe(0);
    }
    seen.delete("last");
    expect(new Set(seen.values()).size).toBe(4);
    expect(seen.get("paper-hybrid")).toMatch(/5 stages/);
    expect(seen.get("paper-hybrid")).toMatch(/0\.1\/128 → .* → 0\.05625\/648/);
    expect(seen.get("paper-constant")).toMatch(/1 stage\b/);
    // Epochs stay what the user typed when the schedule changes.
    expect(await page.getByLabel("Epochs").inputValue()).toBe("5");
    await page.screenshot({ path: join(ARTIFACTS, "run-form-hybrid-5-epochs.png") });

    await page.getByTestId("optimizer").selectOption("adam");
    await page.getByLabel("Epochs").fill("7");
    await page.getByTestId("tab-designer").click();
    await page.getByTestId("designer").waitFor();
    await page.getByTestId("tab-run").click();
    await page.getByTestId("plan").waitFor();
    expect(await page.getByTestId("schedule").inputValue()).toBe("paper-hybrid");
    expect(await page.getByTestId("optimizer").inputValue()).toBe("adam");
    expect(await page.getByLabel("Epochs").inputValue()).toBe("7");
    await page.close();
  });
});
