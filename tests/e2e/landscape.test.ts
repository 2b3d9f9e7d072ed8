// The landscape view in a real browser: the experiment runs in the service call, the maps of f
// and f_delta draw, the trajectories animate through the schedule, and the table reports the
// success rates. Screenshots go to test-artifacts/ (landscape-*.png).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../cli/serve/server.js";
import { Service } from "../../core/service/service.js";
import { ARTIFACTS, chromiumAvailable, launch } from "./browser.js";

const squash = (s: string | null) => (s ?? "").replace(/\s+/g, " ");

/** Sets the time slider (epochs) as a user dragging it would. */
async function setTime(page: Page, epochs: number) {
  await page.getByTestId("landscape-time").evaluate((el, v) => {
    const input = el as HTMLInputElement;
    input.value = String(v);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }, epochs);
}

/** Standard deviation of a canvas's pixels: 0 for a blank or single-colour canvas. */
async function pixelSpread(page: Page, testid: string): Promise<number> {
  return page
    .getByTestId(testid)
    .locator("canvas")
    .evaluate((el) => {
      const c = el as HTMLCanvasElement;
      const data =
        c.getContext("2d")?.getImageData(0, 0, c.width, c.height).data ?? new Uint8ClampedArray();
      let s = 0;
      let ss = 0;
      const n = data.length / 4;
      for (let i = 0; i < data.length; i += 4) {
        const v = (data[i] as number) + (data[i + 1] as number) + (data[i + 2] as number);
        s += v;
        ss += v * v;
      }
      return Math.sqrt(Math.max(0, ss / n - (s / n) ** 2));
    });
}

describe.skipIf(!chromiumAvailable())("the landscape view in Chromium", () => {
  let browser: Browser;
  let service: Service;
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    service = new Service({ home: mkdtempSync(join(tmpdir(), "e2e-landscape-")) });
    server = await startServer({ service, port: 0 });
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await service?.close();
  });

  it("runs 200 seeds x 7 schedules, draws f and f_delta with the iterates, and animates through the schedule", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`${server.url}#landscape`);
    const summary = page.getByTestId("landscape-summary");
    await summary.waitFor({ timeout: 30_000 });
    expect(await summary.textContent()).toMatch(/200 seeds × 7 schedules in \d+\.\d+ s/);

    // The table: every schedule with a rate and its interval; LR decay beats the constant at its final delta.
    const table = page.getByTestId("success-table");
    expect(await table.locator("tbody tr").count()).toBe(7);
    const lrDecay = (await page.getByTestId("row-paper-lr-decay").textContent())?.replace(
      /\s+/g,
      " ",
    );
    expect(lrDecay).toMatch(/11\.0%\s*\[7\.4, 16\.1\]/);
    expect(squash(await page.getByTestId("comparisons").textContent())).toContain(
      "paper-lr-decay − constant-final-delta: +9.0 pts [4.3, 14.2] higher",
    );
    expect(await page.getByTestId("row-constant-final-delta").textContent()).toMatch(/2\.0%/);

    // It plays on its own; pause it and look at the start of paper-lr-decay: delta_0 = 0.4.
    await page.getByTestId("row-paper-lr-decay").click();
    await page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="landscape-time"]') as HTMLInputElement | null;
      return t !== null && Number(t.value) > 0;
    });
    await page.getByTestId("landscape-play").click();
    await expect.poll(() => page.getByTestId("landscape-play").textContent()).toBe("Play");
    await setTime(page, 5);
    await expect
      .poll(() => page.getByTestId("map-smooth").textContent())
      .toMatch(/δ = 0\.4\b.*closed form/s);
    expect(squash(await page.getByTestId("landscape-now").textContent())).toMatch(
      /epoch 6\/200 · LR 0\.1 · batch 128 · δ 0\.4/,
    );
    expect(await pixelSpread(page, "map-f")).toBeGreaterThan(20);
    expect(await pixelSpread(page, "map-smooth")).toBeGreaterThan(20);
    await page.screenshot({ path: join(ARTIFACTS, "landscape-start.png") });

    // At the end: delta = delta_0 / 4, and some of the shown seeds sit at the global minimum.
    await setTime(page, 200);
    await expect.poll(() => page.getByTestId("map-smooth").textContent()).toMatch(/δ = 0\.1\b/);
    expect(squash(await page.getByTestId("landscape-now").textContent())).toMatch(
      /LR 0\.025 · batch 128 · δ 0\.1 · \d+\/24 shown seeds/,
    );
    await page.screenshot({ path: join(ARTIFACTS, "landscape-end.png") });

    // Another function: Ackley has no closed form, so f_delta is Monte Carlo with its sample count.
    await page.getByTestId("landscape-fn").selectOption("ackley");
    await expect
      .poll(() => page.getByTestId("landscape-summary").textContent())
      .toMatch(/200 seeds/);
    await expect
      .poll(() => page.getByTestId("map-f").textContent(), { timeout: 15_000 })
      .toMatch(/Ackley/);
    await page.getByTestId("landscape-play").click(); // pause (a new experiment plays on its own)
    await setTime(page, 20);
    await expect
      .poll(() => page.getByTestId("map-smooth").textContent(), { timeout: 15_000 })
      .toMatch(/Monte Carlo, 256 samples per point/);
    await page.screenshot({ path: join(ARTIFACTS, "landscape-ackley.png"), fullPage: true });
    expect(errors).toEqual([]);
  });
});
