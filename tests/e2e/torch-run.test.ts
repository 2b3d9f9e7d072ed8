// The torch engine from the app, in a real browser: the Run view starts a run
// with backend torch (its speed options shown), the run streams live, and
// Compare shows it beside a wasm run of the same spec.
// PyTorch is required (CI installs python3-torch): without it this skips
// with a message, except under CI (CI=true), where it fails.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findTorchPython } from "../../core/engine/torch/python.js";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

const torch = await findTorchPython();
if (!torch.found && !process.env.CI) {
  console.warn(
    "skipping the torch run view test: no Python with PyTorch (apt-get install python3-torch)",
  );
}

describe.skipIf(!chromiumAvailable() || (!torch.found && !process.env.CI))(
  "a torch run from the Run view, compared with wasm",
  () => {
    let browser: Browser;
    let app: TestApp;

    beforeAll(async () => {
      if (!torch.found) throw new Error(`PyTorch is required under CI: ${torch.fix}`);
      app = await startApp(mkdtempSync(join(tmpdir(), "e2e-torch-")));
      browser = await launch();
    });
    afterAll(async () => {
      await browser?.close();
      await app?.close();
    });

    async function runWith(page: Page, backend: string): Promise<string[]> {
      await page.getByTestId("backend").selectOption(backend);
      await page.getByLabel("Epochs").fill("2");
      await page.getByTestId("start").click();
      await page.getByTestId("status").filter({ hasText: "running" }).waitFor({ timeout: 60_000 });
      // Live: the progress moves while the run trains.
      const seen = new Set<string>();
      await expect
        .poll(
          async () => {
            const text = await page.getByTestId("progress").textContent();
            if (text && /step [1-9]\d*\//.test(text)) seen.add(text);
            return seen.size;
          },
          { timeout: 120_000, interval: 100 },
        )
        .toBeGreaterThanOrEqual(3);
      return [...seen];
    }

    it("trains on torch with live progress, then shows beside a wasm run of the same spec in Compare", async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      await page.goto(app.server.url);
      await page.getByText("open", { exact: true }).waitFor();

      await page.getByTestId("backend").selectOption("torch");
      await page.getByTestId("torch-options").waitFor();
      expect(await page.getByTestId("torch-autocast").inputValue()).toBe("off");
      await runWith(page, "torch");
      await page
        .getByText(/Training backend: torch/)
        .first()
        .waitFor({ timeout: 60_000 });
      await page.getByText(/test acc \d/).waitFor({ timeout: 120_000 });
      await page.screenshot({ path: join(ARTIFACTS, "torch-run-running.png") });
      await page
        .getByTestId("status")
        .filter({ hasText: "completed" })
        .waitFor({ timeout: 180_000 });

      // The same spec on wasm (the torch options are not shown for it).
      await page.getByTestId("backend").selectOption("wasm");
      expect(await page.getByTestId("torch-options").count()).toBe(0);
      await runWith(page, "wasm");
      await page
        .getByTestId("status")
        .filter({ hasText: "completed" })
        .waitFor({ timeout: 300_000 });

      const runs = await app.service.call("runs.list", {});
      expect(runs.map((r) => r.backend).sort()).toEqual(["torch", "wasm"]);
      const torchRun = runs.find((r) => r.backend === "torch");
      const details = await app.service.call("runs.get", { id: torchRun?.id as string });
      // The speed options are recorded with the run: as asked (spec) and as applied (environment).
      expect(details.spec).toMatchObject({
        backend: "torch",
        torch: { autocast: "off", compile: false },
      });
      expect(details.environment).toMatchObject({ torch: { device: "cpu", compile: false } });

      await page.goto(`${app.server.url}#compare`);
      for (const r of runs) await page.getByTestId(`pick-${r.id}`).check();
      await page
        .locator('[data-testid="compare-view"][data-draw-done="true"]')
        .waitFor({ timeout: 30_000 });
      const table = page.getByTestId("metric-table");
      await expect.poll(() => table.locator("tbody").textContent()).toMatch(/testAccuracy/);
      const diff = page.getByTestId("spec-diff");
      const paths = await diff.locator("td.path").allTextContents();
      expect(paths).toContain("backend");
      expect(paths).not.toContain("model");
      await page.screenshot({ path: join(ARTIFACTS, "torch-vs-wasm-compare.png"), fullPage: true });
      expect(errors).toEqual([]);
    }, 600_000);
  },
);
