// The compare view tells the truth about what it draws (Chromium, real web host and library):
// smoothing only on noisy per-step scalars (raw line kept faint under it), never on LR, batch size,
// delta or per-epoch metrics; readable axes on constant series and when zoomed into one point;
// hovering a run highlights it and dims the others; identical runs flagged "same as"; grouped runs
// in their group's colour with mean +- std in the table; PNG at 2x with a clean file name.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrainEvent } from "../../core/engine/events.js";
import { syntheticRun, testSpec } from "../../core/store/fixtures.js";
import { RunStore } from "../../core/store/store.js";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

interface Ids {
  a: string;
  copy: string;
  other: string;
  elsewhere: string;
}

function seed(home: string): Ids {
  const store = RunStore.open(home);
  const record = (seedValue: number, shift: number, name = "test-cosine") => {
    const base = testSpec({ seed: seedValue });
    const run = store.createRun({ ...base, schedule: { ...(base.schedule as object), name } });
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
    for (const e of syntheticRun({ epochs: 3, stepsPerEpoch: 20 })) {
      const ev: TrainEvent =
        e.type === "step"
          ? { ...e, loss: e.loss + shift, gradNorm: e.gradNorm + shift }
          : e.type === "epoch"
            ? { ...e, testAccuracy: e.testAccuracy + shift / 10 }
            : e;
      rec.record(ev);
    }
    rec.close();
    return run.id;
  };
  // a and copy: the same events (a rerun of the same trajectory); other: another seed's values.
  const ids = {
    a: record(1, 0),
    copy: record(2, 0),
    other: record(3, 0.2),
    elsewhere: record(4, 0.5, "other-schedule"),
  };
  store.close();
  return ids;
}

describe.skipIf(!chromiumAvailable())("compare: smoothing rules, axes, hover, groups", () => {
  let browser: Browser;
  let app: TestApp;
  let ids: Ids;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "e2e-compare-views-"));
    ids = seed(home);
    app = await startApp(home);
    browser = await launch();
    page = await browser.newPage({
      viewport: { width: 1440, height: 1400 },
      acceptDownloads: true,
    });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const chart = (key: string) => page.getByTestId(`chart-${key}`);
  const attr = async (key: string, name: string) => (await chart(key).getAttribute(name)) ?? "";
  const ticks = async (key: string, axis: "x" | "y") =>
    (await attr(key, `data-${axis}-ticks`)).split("|").filter((t) => t !== "");
  async function drawn(kind: string): Promise<void> {
    await page
      .locator(`[data-testid="compare-view"][data-draw-done="true"][data-draw-kind="${kind}"]`)
      .waitFor({ timeout: 20_000 });
  }

  it("smooths loss, never LR, batch size, delta or per-epoch metrics; the raw line stays under it", async () => {
    await page.goto(`${app.server.url}#compare`);
    for (const id of [ids.a, ids.copy, ids.other]) await page.getByTestId(`pick-${id}`).check();
    await drawn("select");
    for (const k of ["lr", "batchSize", "delta"]) await page.getByTestId(`metric-${k}`).check();
    await drawn("metric");
    await page.getByTestId("smoothing-value").fill("0.9");
    await page.getByTestId("smoothing-value").press("Enter");
    await drawn("smoothing");
    // loss: per run a faint raw line (~) and the smoothed one over it.
    const loss = (await attr("loss", "data-lines")).split("|");
    expect(loss.filter((l) => l.includes("(raw)~"))).toHaveLength(3);
    expect(loss.filter((l) => !l.includes("~"))).toHaveLength(3);
    // LR, batch, delta, test accuracy: the values as recorded, one line per run, nothing faint.
    for (const k of ["lr", "batchSize", "delta", "testAccuracy"]) {
      const lines = (await attr(k, "data-lines")).split("|");
      expect(lines, k).toHaveLength(3);
      expect(
        lines.some((l) => l.includes("~")),
        k,
      ).toBe(false);
    }
    // The table: "last (smoothed)" for loss only; accuracy in percent.
    const table = page.getByTestId("metric-table");
    expect(await table.locator("thead").textContent()).toContain("last (smoothed)");
    const row = (runId: string, key: string) =>
      table
        .locator("tbody tr", { hasText: key })
        .filter({ hasText: runId.slice(-6) })
        .first();
    const cells = async (runId: string, key: string) =>
      row(runId, key).locator("td").allTextContents();
    const lossCells = await cells(ids.other, "loss");
    expect(Number(lossCells[3])).not.toBe(Number(lossCells[2]));
    expect((await cells(ids.other, "lr"))[3]).toBe("–");
    const acc = await cells(ids.other, "testAccuracy");
    expect(acc[2]).toMatch(/^\d+\.\d\d%$/);
    expect(acc[3]).toBe("–");
    await page.screenshot({ path: join(ARTIFACTS, "compare-smoothing-rules.png"), fullPage: true });
  });

  it("constant series and a zoom onto one point have distinct axis labels", async () => {
    // LR 0.1 and batch 32 throughout: padded ranges, ticks step through distinct values.
    for (const k of ["lr", "batchSize"]) {
      const y = await ticks(k, "y");
      expect(y.length, `${k}: ${y}`).toBeGreaterThanOrEqual(3);
      expect(new Set(y).size, `${k}: ${y}`).toBe(y.length);
    }
    await chart("lr").screenshot({ path: join(ARTIFACTS, "compare-constant-lr.png") });
    // Zoom onto a 6-pixel range of the loss chart: at most one step in view.
    const canvas = chart("loss").locator("canvas");
    const box = (await canvas.boundingBox()) as {
      x: number;
      y: number;
      width: number;
      height: number;
    };
    const x0 = box.x + box.width * 0.5;
    await page.mouse.move(x0, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(x0 + 6, box.y + box.height * 0.5, { steps: 3 });
    await page.mouse.up();
    await page.getByTestId("reset-zoom").waitFor();
    await drawn("zoom");
    for (const axis of ["x", "y"] as const) {
      const t = await ticks("loss", axis);
      expect(t.length, `${axis}: ${t}`).toBeGreaterThanOrEqual(2);
      expect(new Set(t).size, `${axis}: ${t}`).toBe(t.length);
    }
    await chart("loss").screenshot({ path: join(ARTIFACTS, "compare-zoom-one-point.png") });
    await page.getByTestId("reset-zoom").click();
    await page.getByTestId("reset-zoom").waitFor({ state: "detached" });
  });

  it("hovering a run highlights it everywhere and dims the others; identical runs are flagged", async () => {
    await page.getByTestId(`picked-${ids.other}`).hover();
    await expect.poll(() => attr("loss", "data-highlight")).toBe(ids.other);
    expect(await attr("testAccuracy", "data-highlight")).toBe(ids.other);
    await page.screenshot({ path: join(ARTIFACTS, "compare-hover.png"), fullPage: true });
    await page.mouse.move(5, 5);
    await expect.poll(() => attr("loss", "data-highlight")).toBe("");
    // Over a chart: the line nearest the pointer.
    const box = (await chart("loss").locator("canvas").boundingBox()) as {
      x: number;
      y: number;
      width: number;
      height: number;
    };
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.6, { steps: 4 });
    await expect.poll(() => attr("loss", "data-highlight")).not.toBe("");
    await page.mouse.move(5, 5);
    // The copy has a's values everywhere: flagged, in the list and the table.
    const same = page.getByTestId(`same-as-${ids.copy}`);
    await same.waitFor();
    expect(await same.textContent()).toContain(ids.a.slice(-6));
    expect(await page.getByTestId(`same-as-${ids.a}`).count()).toBe(0);
    expect(await page.getByTestId(`same-as-${ids.other}`).count()).toBe(0);
    expect(await page.getByTestId("metric-table").textContent()).toContain("same as");
  });

  it("grouped runs take their group's colour everywhere; the table shows mean ± std", async () => {
    await page.getByTestId(`pick-${ids.elsewhere}`).check();
    await drawn("select");
    await page.getByTestId("group-by").selectOption("allButSeed");
    await drawn("group");
    const dot = (id: string) =>
      page
        .getByTestId(`picked-${id}`)
        .locator(".dot")
        .evaluate((e) => getComputedStyle(e).backgroundColor);
    const [a, copy, other, elsewhere] = await Promise.all(
      [ids.a, ids.copy, ids.other, ids.elsewhere].map(dot),
    );
    expect(copy).toBe(a);
    expect(other).toBe(a);
    expect(elsewhere).not.toBe(a);
    const groups = page.getByTestId("group-table");
    const cosine = groups.locator("tbody tr", { hasText: "testAccuracy" }).first();
    expect(await cosine.textContent()).toMatch(/3.*\d+\.\d\d% ± \d+\.\d\d%/);
    expect(await cosine.locator(".dot").evaluate((e) => getComputedStyle(e).backgroundColor)).toBe(
      a,
    );
    await page.screenshot({ path: join(ARTIFACTS, "compare-groups-table.png"), fullPage: true });
    await page.getByTestId("group-by").selectOption("none");
    await drawn("group");
  });

  it("PNG export: twice the chart's size, title and axis titles, a clean file name", async () => {
    const canvas = chart("delta").locator("canvas");
    const width = Math.round(((await canvas.boundingBox()) as { width: number }).width);
    const [png] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("chart-delta-png").click(),
    ]);
    expect(png.suggestedFilename()).toBe("compare-delta-by-step.png");
    const path = join(ARTIFACTS, "compare-export-delta.png");
    await png.saveAs(path);
    const bytes = readFileSync(path);
    expect(bytes.subarray(1, 4).toString()).toBe("PNG");
    expect(Math.abs(bytes.readUInt32BE(16) - 2 * width)).toBeLessThanOrEqual(2);
    // The page's chart is back at its own size afterwards.
    expect(Math.round(((await canvas.boundingBox()) as { width: number }).width)).toBe(width);
    expect(errors).toEqual([]);
  });
});
