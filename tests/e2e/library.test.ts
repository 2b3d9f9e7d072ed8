// Live runs and the run library in a real browser, over the real web host, run library and training
// workers: start a short run, re-attach after a reload, stop and resume it; queue runs, reorder and
// remove; then the library table (sort, filter, search), tags and notes, export, delete with
// confirmation, import, and "Compare" on two runs.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

describe.skipIf(!chromiumAvailable())("live runs and the run library in Chromium", () => {
  let browser: Browser;
  let app: TestApp;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "e2e-library-"));
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

  const status = () => page.getByTestId("status");
  const stepsDone = async () =>
    Number(/step (\d+)\//.exec((await page.getByTestId("progress").textContent()) ?? "")?.[1]);

  it("a run keeps training when the page reloads, and resumes after a stop", async () => {
    await page.goto(app.server.url);
    await page.getByText("open", { exact: true }).waitFor();
    await page.getByLabel("Epochs").fill("2");
    await page.getByTestId("optimizer").selectOption("momentum");
    await page.getByTestId("start").click();
    await status().filter({ hasText: "running" }).waitFor({ timeout: 60_000 });
    await expect.poll(stepsDone, { timeout: 30_000 }).toBeGreaterThan(20);
    expect(await page.locator("canvas").count()).toBe(6);

    // Closing the window does not lose the run: a fresh page re-attaches with its history.
    await page.reload();
    await status()
      .filter({ hasText: /running|paused/ })
      .waitFor({ timeout: 15_000 });
    await expect.poll(stepsDone, { timeout: 10_000 }).toBeGreaterThan(20);
    const runId = ((await page.getByText(/^Run \d{8}-/).textContent()) ?? "").slice(4).trim();
    expect(runId).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);

    // Stop after the first epoch (its checkpoint is kept), then resume from it.
    await page.getByText(/test acc \d/).waitFor({ timeout: 60_000 });
    await page.getByTestId("stop").click();
    await status().filter({ hasText: "stopped" }).waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, "library-run-stopped.png") });
    await page.getByTestId("resume").click();
    await status().filter({ hasText: "completed" }).waitFor({ timeout: 60_000 });
    const [done, total] = (
      /step (\d+)\/(\d+)/.exec((await page.getByTestId("progress").textContent()) ?? "") ?? []
    )
      .slice(1)
      .map(Number);
    expect(done).toBe(total);
    await page.screenshot({ path: join(ARTIFACTS, "library-run-resumed.png"), fullPage: true });
  });

  it("runs started during a run wait in a queue that can be reordered and emptied", async () => {
    await page.getByTestId("optimizer").selectOption("sgd");
    await page.getByLabel("Epochs").fill("2"); // the reload reset the form
    await page.getByLabel("Seed").fill("1");
    await page.getByTestId("start").click();
    await status().filter({ hasText: "running" }).waitFor({ timeout: 60_000 });
    for (const seed of ["2", "3"]) {
      await page.getByLabel("Seed").fill(seed);
      await page.getByTestId("enqueue").click();
    }
    const items = page.locator("[data-testid=queue] li");
    await expect.poll(() => items.count()).toBe(2);
    const seeds = async () => (await items.allTextContents()).map((t) => /seed (\d+)/.exec(t)?.[1]);
    expect(await seeds()).toEqual(["2", "3"]);
    await items.nth(1).getByRole("button", { name: "move up" }).click();
    await expect.poll(seeds).toEqual(["3", "2"]);
    await page.screenshot({ path: join(ARTIFACTS, "library-queue.png") });
    await items.nth(1).getByRole("button", { name: "remove from the queue" }).click();
    await expect.poll(seeds).toEqual(["3"]);
    // When the run ends, the view follows the next one in the queue.
    const watched = async () => (await page.getByText(/^Run \d{8}-/).textContent()) ?? "";
    const first = await watched();
    await expect.poll(watched, { timeout: 60_000 }).not.toBe(first);
    await page.getByTestId("queue").waitFor({ state: "detached" });
    await status().filter({ hasText: "completed" }).waitFor({ timeout: 60_000 });
  });

  it("the library: sort, filter, search, tags and notes, export, delete, import, compare", async () => {
    await page.getByTestId("tab-library").click();
    const rows = page.locator("[data-testid=runs-table] tbody tr");
    await expect.poll(() => rows.count()).toBe(4);
    await page.getByTestId("sort-seed").click();
    // The seed column found by its header, wherever other columns put it.
    const seedColumn =
      (await page
        .locator("[data-testid=runs-table] thead th")
        .evaluateAll((ths) => ths.findIndex((th) => th.querySelector("[data-testid=sort-seed]")))) +
      1;
    expect(seedColumn).toBeGreaterThan(0);
    const seedCol = async () =>
      (await rows.locator(`td:nth-child(${seedColumn})`).allTextContents()).map((s) => s.trim());
    expect(await seedCol()).toEqual(["0", "1", "2", "3"]);
    await page.getByTestId("sort-seed").click();
    expect(await seedCol()).toEqual(["3", "2", "1", "0"]);
    await page.getByTestId("status-filter").selectOption("stopped");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await seedCol()).toEqual(["2"]);
    await page.getByTestId("status-filter").selectOption("all");
    await page.getByTestId("library-search").fill("momentum");
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByTestId("library-search").fill("");
    await page.screenshot({ path: join(ARTIFACTS, "library-table.png") });

    // Tags and a note on the first run (seed 0).
    const first = rows.filter({ hasText: "momentum" });
    await first.click();
    const details = page.getByTestId("run-details");
    await details.getByTestId("tag-input").fill("baseline");
    await details.getByTestId("tag-add").click();
    await first.getByText("baseline").waitFor();
    await details.getByTestId("note").fill("momentum 0.9; stopped after epoch 1 and resumed");
    await details.getByTestId("note-save").click();
    await details.getByText("saved").waitFor();
    await page.getByTestId("tag-filter").selectOption("baseline");
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByTestId("library-search").fill("resumed");
    await expect.poll(() => rows.count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, "library-details.png"), fullPage: true });
    await page.getByTestId("library-search").fill("");
    await page.getByTestId("tag-filter").selectOption("");

    // Export two completed runs.
    await page.getByTestId("sort-seed").click(); // ascending again: seeds 0, 1, 2, 3
    const ids = await rows.evaluateAll((trs) =>
      trs.map((tr) => (tr.getAttribute("data-testid") ?? "").slice(4)),
    );
    await page.getByTestId(`check-${ids[0]}`).check();
    await page.getByTestId(`check-${ids[1]}`).check();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("export-json").click(),
    ]);
    const exported = readFileSync((await download.path()) as string, "utf8");
    const doc = JSON.parse(exported);
    expect(doc.format).toBe("sgd-studio-runs");
    expect(doc.runs.map((r: { id: string }) => r.id).sort()).toEqual([ids[0], ids[1]].sort());
    expect(doc.runs[0].metrics.loss.value.length).toBeGreaterThan(50);

    // Delete the stopped run (seed 2), with a confirmation first.
    await page.getByTestId(`row-${ids[2]}`).click();
    await page.getByTestId("run-details").getByTestId("delete").click();
    await page.getByTestId("cancel-delete").click();
    await expect.poll(() => rows.count()).toBe(4);
    await page.getByTestId("run-details").getByTestId("delete").click();
    await page.getByTestId("confirm-delete").click();
    await expect.poll(() => rows.count()).toBe(3);

    // Import the export as copies: two more runs.
    await page.locator("select[aria-label='runs already in the library']").selectOption("copy");
    await page.getByTestId("import-file").setInputFiles({
      name: "runs.json",
      mimeType: "application/json",
      buffer: Buffer.from(exported),
    });
    await page.getByText("Imported 2 runs from runs.json").waitFor();
    await expect.poll(() => rows.count()).toBe(5);
    await page.screenshot({ path: join(ARTIFACTS, "library-imported.png"), fullPage: true });

    // Compare the two checked runs.
    await page.getByTestId("compare-selected").click();
    await page
      .locator('[data-testid="compare-view"][data-draw-done="true"]')
      .waitFor({ timeout: 20_000 });
    expect(await page.locator("[data-testid=metric-table] tbody tr").count()).toBe(4);
    await page.screenshot({ path: join(ARTIFACTS, "compare-from-library.png"), fullPage: true });
    expect(errors).toEqual([]);
  });
});
