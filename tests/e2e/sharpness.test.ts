// Sharpness in Compare, in a real browser over the real web host: two mlps trained on the embedded
// data (a large constant LR and a small one) with sharpness measured at the end of training, a third
// measured on demand from the view; final sharpness against delta and test accuracy against
// sharpness (the paper's Figure 3), the values with their settings, and the last/best table. The
// third run trains on 256 images, so its on-demand measurement (default settings) uses 2 batches.
// The Run view's "Sharpness at the end" checkbox puts spec.sharpness in the run it starts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

const sharpness = { examples: 256, batchSize: 128, iterations: 10 };

function spec(lr: number, withSharpness: boolean, trainLimit = 400) {
  return {
    dataset: "default",
    model: "mlp",
    backend: "cpu",
    seed: 1,
    trainLimit,
    testLimit: 200,
    schedule: {
      version: 1,
      name: `constant lr ${lr}`,
      epochs: 3,
      lr: { kind: "constant", lr },
      batch: { kind: "constant", size: 32 },
    },
    ...(withSharpness ? { sharpness } : {}),
  };
}

describe.skipIf(!chromiumAvailable())("sharpness in the compare view", () => {
  let browser: Browser;
  let app: TestApp;
  let page: Page;
  let home: string;
  const ids: Record<"large" | "small" | "later", string> = { large: "", small: "", later: "" };
  const errors: string[] = [];

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "e2e-sharpness-"));
    app = await startApp(home);
    const done = new Map<string, string>();
    const waiters: (() => void)[] = [];
    app.service.on((e: ServiceEvent) => {
      if (e.type === "run.status" && ["completed", "failed", "interrupted"].includes(e.status)) {
        done.set(e.runId, e.status);
        for (const w of waiters.splice(0)) w();
      }
    });
    const finished = async (id: string) => {
      while (!done.has(id)) await new Promise<void>((r) => waiters.push(r));
      return done.get(id);
    };
    ids.large = (await app.service.call("runs.start", { spec: spec(0.15, true) })).id;
    ids.small = (await app.service.call("runs.start", { spec: spec(0.005, true) })).id;
    ids.later = (await app.service.call("runs.start", { spec: spec(0.05, false, 256) })).id;
    for (const id of Object.values(ids)) expect(await finished(id)).toBe("completed");
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it("both runs' final sharpness plotted against delta and accuracy, listed with settings and in last/best", async () => {
    await page.goto(`${app.server.url}#compare`);
    for (const id of [ids.large, ids.small]) await page.getByTestId(`pick-${id}`).check();
    const view = page.getByTestId("sharpness-view");
    await view.scrollIntoViewIfNeeded();
    const table = page.getByTestId("sharpness-table");
    // Both runs with a value (delta arrives once the delta view has loaded it).
    await expect
      .poll(async () => (await table.locator("tbody tr").allTextContents()).join("\n"), {
        timeout: 30_000,
      })
      .toMatch(
        /constant lr 0.15[\s\S]*‖d\/\|w\|‖∞ ≤ 0.0002, 10 it., 256 ex. \(batch 128\), seed 0/,
      );
    const values = await table.getByTestId("sharpness-value").allTextContents();
    expect(values).toHaveLength(2);
    for (const v of values) expect(Number(v)).toBeGreaterThan(0);
    await expect
      .poll(
        async () =>
          (await table.locator("tbody tr").first().locator("td").nth(2).textContent()) ?? "",
      )
      .not.toBe("–");
    // The paper's panels draw one point per run.
    expect(await page.locator("[data-testid=sharpness-delta-chart] canvas").count()).toBe(1);
    expect(await page.locator("[data-testid=sharpness-accuracy-chart] canvas").count()).toBe(1);
    // The last/best table lists the sharpness of each run.
    const lastBest = page.getByTestId("metric-table");
    await expect
      .poll(async () => (await lastBest.locator("tbody").textContent()) ?? "")
      .toMatch(/sharpnessL2/);
    const rows = await lastBest.locator("tbody tr").allTextContents();
    expect(rows.filter((r) => /sharpness(?!L2|OneStep)/.test(r))).toHaveLength(2);
    await view.screenshot({ path: join(ARTIFACTS, "compare-sharpness.png") });
    await page.screenshot({ path: join(ARTIFACTS, "compare-sharpness-page.png"), fullPage: true });

    // The plain L2 variant.
    await page.getByTestId("sharpness-key").selectOption("sharpnessL2");
    await expect.poll(async () => (await table.textContent()) ?? "").toMatch(/‖d‖₂ ≤ 0.05, 10 it./);
  });

  it("a run measured from the view: Measure, progress, then its value", async () => {
    await page.getByTestId("sharpness-key").selectOption("sharpness");
    await page.getByTestId(`pick-${ids.later}`).check();
    const button = page.getByTestId(`measure-${ids.later}`);
    await button.scrollIntoViewIfNeeded();
    await button.click();
    const row = page.locator(`[data-testid=sharpness-table] tr[data-run="${ids.later}"]`);
    await expect
      .poll(async () => (await row.textContent()) ?? "", { timeout: 120_000 })
      .toMatch(/on-demand · epoch 3/);
    expect(await page.getByTestId("sharpness-value").count()).toBe(3);
    await page.getByTestId("sharpness-view").screenshot({
      path: join(ARTIFACTS, "compare-sharpness-measured.png"),
    });
    // The library lists each run's final adaptive sharpness.
    await page.goto(`${app.server.url}#library`);
    for (const id of Object.values(ids))
      await expect
        .poll(async () => (await page.getByTestId(`row-${id}`).textContent()) ?? "")
        .toMatch(/0\.00\d+/);
    expect(errors).toEqual([]);
  });

  it("the Run view's checkbox asks for sharpness at the end of the run", async () => {
    await page.goto(`${app.server.url}#run`);
    await page.getByTestId("backend").selectOption("cpu");
    await page.getByLabel("Epochs").fill("1");
    await page.getByTestId("sharpness-at-end").check();
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "running" }).waitFor({ timeout: 60_000 });
    const run = (await app.service.call("runs.list", {})).find(
      (r) => !Object.values(ids).includes(r.id),
    );
    expect(run?.spec.sharpness).toMatchObject({ atEnd: true, rho: 0.0002, examples: 1024 });
    await page.getByTestId("stop").click();
    await page.getByTestId("status").filter({ hasText: "stopped" }).waitFor({ timeout: 60_000 });
    expect(errors).toEqual([]);
  });
});
