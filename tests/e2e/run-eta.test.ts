// The Run view in Chromium on a run whose steps take a known time
// (SGD_STUDIO_TEST_STEP_DELAY_MS): the ETA it shows after the first 10% of the
// run is within 25% of the time the run really took to finish; "-" while paused
// and once stopped. The delta chart shows the scheduled and the measured delta
// as two series, with the steps where C was re-estimated marked.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

/** Every step sleeps this long in the worker: the run's pace is known and steady. */
const DELAY_MS = 120;

/** "1m 05s" / "25s" / "1h 02m" -> seconds; null for "-". */
function seconds(text: string): number | null {
  const m = /ETA\s+(?:(\d+)h\s*)?(?:(\d+)m\s*)?(?:(\d+)s)?/.exec(text);
  if (!m || (!m[1] && !m[2] && !m[3])) return null;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

async function progress(page: Page): Promise<{ step: number; total: number }> {
  const text = (await page.getByTestId("progress").textContent()) ?? "";
  const [, step, total] = /step (\d+)\/(\d+)/.exec(text) ?? [];
  return { step: Number(step ?? 0), total: Number(total ?? 0) };
}

async function untilFraction(page: Page, fraction: number): Promise<void> {
  for (;;) {
    const p = await progress(page);
    if (p.total > 0 && p.step >= fraction * p.total) return;
    await page.waitForTimeout(50);
  }
}

describe.skipIf(!chromiumAvailable())("the Run view's ETA and delta in Chromium", () => {
  let browser: Browser;
  let app: TestApp;
  const saved = process.env.SGD_STUDIO_TEST_STEP_DELAY_MS;

  beforeAll(async () => {
    // Training workers are forked from this process and inherit its environment.
    process.env.SGD_STUDIO_TEST_STEP_DELAY_MS = String(DELAY_MS);
    app = await startApp(mkdtempSync(join(tmpdir(), "e2e-eta-")));
    browser = await launch();
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env.SGD_STUDIO_TEST_STEP_DELAY_MS;
    else process.env.SGD_STUDIO_TEST_STEP_DELAY_MS = saved;
    await browser?.close();
    await app?.close();
  });

  it("ETA within 25% of the real remaining time after the first 10%; '-' while paused; delta's two series", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(app.server.url);
    await page.getByTestId("plan").waitFor();
    await page.getByTestId("schedule").selectOption("paper-constant");
    await page.getByLabel("Epochs").fill("2");
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "running" }).waitFor({ timeout: 60_000 });

    // ETA samples after the first 10% of the run: [when (ms), seconds shown].
    const samples: { at: number; eta: number; fraction: number }[] = [];
    const sample = async (fraction: number) => {
      await untilFraction(page, fraction);
      const text = (await page.getByTestId("eta").textContent()) ?? "";
      const eta = seconds(text);
      expect(eta, `ETA shown at ${fraction * 100}% of the run: "${text}"`).not.toBeNull();
      samples.push({ at: Date.now(), eta: eta as number, fraction });
    };
    await sample(0.12);
    await sample(0.3);

    // Paused: no ETA. The time spent paused is not the run's remaining time.
    const pausedAt = Date.now();
    await page.getByTestId("pause").click();
    await page.getByTestId("status").filter({ hasText: "paused" }).waitFor();
    await expect.poll(async () => page.getByTestId("eta").textContent()).toBe("ETA -");
    await page.waitForTimeout(1500);
    expect(await page.getByTestId("eta").textContent()).toBe("ETA -");
    await page.screenshot({ path: join(ARTIFACTS, "run-eta-paused.png") });
    await page.getByTestId("resume").click();
    const pausedFor = Date.now() - pausedAt;
    await page.getByTestId("status").filter({ hasText: "running" }).waitFor();
    await sample(0.55);
    await sample(0.62);
    await page.screenshot({ path: join(ARTIFACTS, "run-eta-running.png"), fullPage: true });

    await page.getByTestId("status").filter({ hasText: "completed" }).waitFor({ timeout: 180_000 });
    const end = Date.now();
    expect(await page.getByTestId("eta").textContent()).toBe("ETA -");
    const report = samples.map((s, i) => {
      const real = (end - s.at - (i < 2 ? pausedFor : 0)) / 1000;
      return { ...s, real, error: Math.abs(s.eta - real) / real };
    });
    console.log("ETA shown vs real remaining (s):", JSON.stringify(report));
    for (const r of report) expect(r.error, JSON.stringify(r)).toBeLessThan(0.25);

    // delta: the scheduled delta/delta0 (constant here), the measured one, C's re-estimations marked.
    const chart = page.locator('figure[data-title^="Smoothing"]');
    const lines = Object.fromEntries(
      ((await chart.getAttribute("data-lines")) ?? "").split("|").map((l) => {
        const i = l.lastIndexOf(":");
        return [l.slice(0, i), Number(l.slice(i + 1))];
      }),
    );
    const { total } = await progress(page);
    expect(lines["δ/δ₀ scheduled"]).toBe(total);
    expect(lines["δ measured (lr·Ĉ/√b)"]).toBeGreaterThan(0.9 * total);
    // Every 50 steps (the default noiseEvery).
    expect(lines["Ĉ re-estimated"]).toBe(Math.ceil(total / 50));
    expect(await chart.textContent()).toMatch(/re-estimated every 50 steps/);
    await chart.screenshot({ path: join(ARTIFACTS, "run-delta-chart.png") });
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it("'-' once a run is stopped", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(app.server.url);
    await page.getByTestId("plan").waitFor();
    await page.getByLabel("Epochs").fill("2");
    await page.getByTestId("start").click();
    await expect
      .poll(async () => seconds((await page.getByTestId("eta").textContent()) ?? ""), {
        timeout: 60_000,
      })
      .not.toBeNull();
    await page.getByTestId("stop").click();
    await page.getByTestId("status").filter({ hasText: "stopped" }).waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("eta").textContent()).toBe("ETA -");
    await page.close();
  }, 120_000);
});
