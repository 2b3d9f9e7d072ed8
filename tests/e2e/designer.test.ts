// The schedule designer in a real browser (Debian's Chromium) against the web host: presets,
// dragging keyframes with the mouse and the keyboard, the smoothing-first split, save and
// reopen, bad files, the PyTorch export, the overlay and the duration estimate. Values are read
// from the summary's and the lanes' data attributes and checked against the core's compiler.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContextOptions, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileSchedule } from "../../core/schedule/compile.js";
import { findPreset, PRESETS } from "../../core/schedule/presets.js";
import { toEpochTimeDoc } from "../../core/schedule/relative.js";
import type { Schedule } from "../../core/schedule/spec.js";
import { parseSchedule } from "../../core/schedule/validate.js";
import { syntheticRun, testSpec } from "../../core/store/fixtures.js";
import { RunStore } from "../../core/store/store.js";
import { ARTIFACTS, chromiumAvailable, launch, startApp, type TestApp } from "./browser.js";

// The Designer's N starts at the embedded dataset's 10,000 training images.
const N = 10_000;
const totalsOf = (name: string) =>
  compileSchedule(findPreset(name)?.schedule, { datasetSize: N }).totals;

describe.skipIf(!chromiumAvailable())("the schedule designer in Chromium", () => {
  let browser: Browser;
  let app: TestApp;
  let dir: string;
  let errors: string[] = [];

  beforeAll(async () => {
    const home = mkdtempSync(join(tmpdir(), "e2e-designer-"));
    dir = mkdtempSync(join(tmpdir(), "e2e-designer-files-"));
    // One completed run in the library, so the designer can estimate durations.
    const store = RunStore.open(home);
    const run = store.createRun(testSpec());
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
    for (const e of syntheticRun({ epochs: 3, stepsPerEpoch: 20 })) rec.record(e);
    rec.close();
    store.close();
    app = await startApp(home);
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  async function open(options: BrowserContextOptions = {}): Promise<Page> {
    const page = await browser.newPage({
      viewport: { width: 1280, height: 720 },
      acceptDownloads: true,
      ...options,
    });
    errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`${app.server.url}#designer`);
    await page.locator('[data-testid="designer"][data-current="true"]').waitFor();
    return page;
  }

  const num = async (l: Locator, name: string) => Number(await l.getAttribute(`data-${name}`));
  const summary = (page: Page) => page.getByTestId("summary");
  const lane = (page: Page, id: string) => page.getByTestId(`lane-${id}`);
  const points = async (page: Page, id: string) =>
    JSON.parse((await lane(page, id).getAttribute("data-points")) ?? "null") as
      | { epoch: number; value: number }[]
      | null;
  /** Waits until the page shows the compiled current document. */
  const settled = (page: Page) =>
    page.locator('[data-testid="designer"][data-current="true"]').waitFor();
  const center = async (l: Locator) => {
    const b = await l.boundingBox();
    if (!b) throw new Error("no box");
    return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
  };

  it("applies each preset in one click; lanes and summary match the compiler; undo goes back", async () => {
    const page = await open();
    await page.getByTestId("preset-cosine").waitFor();
    // A new user starts from the paper's hybrid.
    expect(await num(summary(page), "final-batch")).toBe(648);
    await page.screenshot({ path: join(ARTIFACTS, "designer-start.png") });
    for (const p of PRESETS) {
      await page.getByTestId(`preset-${p.name}`).click();
      const t = totalsOf(p.name);
      await expect.poll(() => num(summary(page), "updates")).toBe(t.updates);
      await settled(page);
      expect(await num(summary(page), "samples")).toBe(t.samples);
      expect(await num(summary(page), "final-lr")).toBeCloseTo(t.finalLr, 7);
      expect(await num(summary(page), "final-batch")).toBe(t.finalBatch);
      expect(await num(summary(page), "delta-end")).toBeCloseTo(t.deltaEnd, 6);
      // What the lanes draw ends where the schedule ends.
      expect(await num(lane(page, "lr"), "y-last")).toBeCloseTo(t.finalLr, 7);
      expect(await num(lane(page, "batch"), "y-last")).toBe(t.finalBatch);
      expect(await num(lane(page, "delta"), "y-min")).toBeCloseTo(t.deltaMin, 6);
      expect(await page.getByTestId("designer").getAttribute("data-mode")).toBe(
        findPreset(p.name)?.schedule.smoothing ? "smoothing" : "lanes",
      );
    }
    await page.getByTestId("preset-paper-lr-decay").click();
    await expect.poll(() => num(summary(page), "final-lr")).toBeCloseTo(0.025, 7);
    expect(await page.getByTestId("sum-lr").textContent()).toContain("0.025");
    await page.screenshot({ path: join(ARTIFACTS, "designer-preset.png") });
    await page.getByTestId("undo").click();
    await expect
      .poll(() => num(summary(page), "final-lr"))
      .toBeCloseTo(totalsOf("warmup-cosine").finalLr, 9);
    await page.getByTestId("redo").click();
    await expect.poll(() => num(summary(page), "final-lr")).toBeCloseTo(0.025, 7);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a schedule made shorter than its times warns in the compiler's words (as the Run view and the CLI)", async () => {
    const page = await open();
    await page.getByTestId("preset-paper-hybrid").click();
    await settled(page);
    expect(await page.getByTestId("warnings").textContent()).not.toMatch(/run-truncated/);
    await page.getByTestId("epochs").fill("5");
    await page.getByTestId("epochs").press("Tab");
    // The preset in epoch time (200 epochs, a stage every 40) cut to 5 epochs, as the compiler says it.
    const doc = toEpochTimeDoc(findPreset("paper-hybrid")?.schedule as Schedule);
    expect(doc.epochs).toBe(200);
    const expected = compileSchedule(doc, {
      datasetSize: N,
      epochs: 5,
      fit: "truncate",
    }).warnings.find((w) => w.code === "run-truncated")?.message;
    expect(expected).toMatch(/LR and batch never change in these 5 epochs/);
    const warning = page.getByTestId("warnings").locator("li", { hasText: "run-truncated" });
    await warning.waitFor();
    expect(await warning.textContent()).toBe(`run-truncated ${expected}`);
    expect(await num(summary(page), "final-lr")).toBe(0.1);
    await page
      .getByTestId("summary")
      .screenshot({ path: join(ARTIFACTS, "designer-truncated.png") });
    // Back to the length its times were written for: no warning.
    await page.getByTestId("epochs").fill("200");
    await page.getByTestId("epochs").press("Tab");
    await expect.poll(() => warning.count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("drags a keyframe with the mouse (snapped to an epoch); adds, nudges and deletes points from the keyboard", async () => {
    const page = await open();
    await page.getByTestId("preset-paper-lr-decay").click();
    await expect.poll(() => num(summary(page), "final-lr")).toBeCloseTo(0.025, 7);
    await page.getByTestId("family-lr").selectOption("keyframes");
    await expect.poll(() => points(page, "lr").then((p) => p?.length)).toBe(5);
    expect((await points(page, "lr"))?.map((p) => p.epoch)).toEqual([0, 40, 80, 120, 160]);
    // Same curve as before: the summary does not change.
    await settled(page);
    expect(await num(summary(page), "final-lr")).toBeCloseTo(0.025, 7);

    // Scale of the chart from the handles: pixels per epoch and per unit of LR.
    const p0 = await center(page.getByTestId("kf-lr-0"));
    const p3 = await center(page.getByTestId("kf-lr-3"));
    const p4 = await center(page.getByTestId("kf-lr-4"));
    const pxPerEpoch = (p4.x - p3.x) / 40;
    const pxPerLr = (p4.y - p0.y) / (0.1 - 0.025);
    // Real mouse events on the canvas: press on the last point, move left and down, release.
    await page.mouse.move(p4.x, p4.y);
    await page.mouse.down();
    await page.mouse.move(p4.x - 30, p4.y + 4, { steps: 4 });
    await page.mouse.move(p4.x - 12.3 * pxPerEpoch, p4.y + 8, { steps: 4 });
    await page.mouse.up();
    const moved = (await points(page, "lr"))?.[4];
    expect(moved?.epoch).toBe(Math.round(160 - 12.3));
    expect(moved?.value).toBeCloseTo(0.025 - 8 / pxPerLr, 3);
    expect(moved?.value ?? 1).toBeLessThan(0.025);
    // The summary and the drawn lane follow: the last point sets the final LR.
    await expect.poll(() => num(summary(page), "final-lr")).toBeCloseTo(moved?.value ?? 0, 6);
    expect(await num(lane(page, "lr"), "y-last")).toBeCloseTo(moved?.value ?? 0, 6);
    expect(await num(lane(page, "lr"), "y-min")).toBeCloseTo(moved?.value ?? 0, 6);
    await page.screenshot({ path: join(ARTIFACTS, "designer-drag.png") });

    // One undo step for the whole drag.
    await page.keyboard.press("Control+z");
    await expect.poll(() => points(page, "lr").then((p) => p?.[4]?.epoch)).toBe(160);
    await page.keyboard.press("Control+Shift+z");
    await expect.poll(() => points(page, "lr").then((p) => p?.[4]?.epoch)).toBe(148);

    // Double-click empty space to add a point (around epoch 100); the y axis may have rescaled.
    const q0 = await center(page.getByTestId("kf-lr-0"));
    const q1 = await center(page.getByTestId("kf-lr-1"));
    const q2 = await center(page.getByTestId("kf-lr-2"));
    const pxPerLrNow = (q1.y - q0.y) / (0.1 - 0.1 * Math.SQRT1_2);
    const at = { x: q2.x + 20 * pxPerEpoch, y: q0.y + 0.05 * pxPerLrNow };
    await page.mouse.dblclick(at.x, at.y);
    await expect.poll(() => points(page, "lr").then((p) => p?.length)).toBe(6);
    const added = (await points(page, "lr"))?.[3];
    expect(added?.epoch).toBe(100);
    expect(added?.value).toBeCloseTo(0.05, 2);

    // Keyboard: a focused point moves with the arrows and goes with Delete.
    await page.getByTestId("kf-lr-1").focus();
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("ArrowUp");
    const nudged = (await points(page, "lr"))?.[1];
    expect(nudged?.epoch).toBe(51);
    expect(nudged?.value).toBeCloseTo(0.1 * Math.SQRT1_2 * 1.05, 5);
    await page.keyboard.press("Delete");
    await expect.poll(() => points(page, "lr").then((p) => p?.length)).toBe(5);
    expect((await points(page, "lr"))?.map((p) => p.epoch)).toEqual([0, 80, 100, 120, 148]);
    // The first point stays, with a message.
    await page.getByTestId("kf-lr-0").focus();
    await page.keyboard.press("Delete");
    await expect(page.getByTestId("notice").textContent()).resolves.toMatch(/first point stays/);
    expect((await points(page, "lr"))?.length).toBe(5);
    await page.keyboard.press("Control+z");
    await expect.poll(() => points(page, "lr").then((p) => p?.length)).toBe(6);
    await page.screenshot({ path: join(ARTIFACTS, "designer-keyframes.png") });
    expect(errors).toEqual([]);
    // Another view and back: the design and its undo history are still there.
    const kept = await points(page, "lr");
    await page.getByTestId("tab-run").click();
    await page.getByTestId("tab-designer").click();
    await settled(page);
    expect(await points(page, "lr")).toEqual(kept);
    expect(await page.getByTestId("undo").isEnabled()).toBe(true);
    await page.close();
  });

  it("smoothing first: the split slider moves the decay between LR and batch while δ stays", async () => {
    const page = await open();
    await page.getByTestId("preset-poly-delta-0.5").click();
    await expect
      .poll(() => page.getByTestId("designer").getAttribute("data-mode"))
      .toBe("smoothing");
    await settled(page);
    const r = Math.sqrt(1 - 4 / 5);
    expect(await page.getByTestId("split-value").textContent()).toBe("0.50");
    expect(await num(summary(page), "final-batch")).toBe(Math.round(128 / r));
    const deltaEnd = await num(summary(page), "delta-end");
    expect(deltaEnd).toBeCloseTo(r, 6);

    // All by batch growth: the LR stays, the batch grows by 1/r^2 = 5.
    await page.getByTestId("split").focus();
    await page.keyboard.press("End");
    await expect.poll(() => num(summary(page), "final-batch")).toBe(640);
    await settled(page);
    expect(await page.getByTestId("split-value").textContent()).toBe("1.00");
    expect(await num(summary(page), "final-lr")).toBeCloseTo(0.1, 9);
    expect(await num(summary(page), "delta-end")).toBeCloseTo(deltaEnd, 9);
    expect(await num(lane(page, "batch"), "y-max")).toBe(640);
    // The LR stays at 0.1 but for the small corrections that keep δ exact where rounding moved the batch.
    expect(await num(lane(page, "lr"), "y-last")).toBeCloseTo(0.1, 9);
    expect(await num(lane(page, "lr"), "y-min")).toBeGreaterThan(0.0999);
    const updatesAllBatch = await num(summary(page), "updates");
    await page.screenshot({ path: join(ARTIFACTS, "designer-split-batch.png") });

    // All by LR decay: the batch stays at 128, the LR falls by r; more updates.
    await page.keyboard.press("Home");
    await expect.poll(() => num(summary(page), "final-batch")).toBe(128);
    await settled(page);
    expect(await num(summary(page), "final-lr")).toBeCloseTo(0.1 * r, 7);
    expect(await num(summary(page), "delta-end")).toBeCloseTo(deltaEnd, 9);
    expect(await num(lane(page, "delta"), "y-last")).toBeCloseTo(deltaEnd, 7);
    expect(await num(summary(page), "updates")).toBeGreaterThan(updatesAllBatch);
    await page.screenshot({ path: join(ARTIFACTS, "designer-split-lr.png") });

    // Draw δ: keyframes, then raise the last stage with the mouse.
    await page.getByTestId("family-delta").selectOption("keyframes");
    await expect.poll(() => points(page, "delta").then((p) => p?.length)).toBe(5);
    await settled(page);
    expect(await num(summary(page), "delta-end")).toBeCloseTo(deltaEnd, 9);
    const d4 = await center(page.getByTestId("kf-delta-4"));
    await page.mouse.move(d4.x, d4.y);
    await page.mouse.down();
    await page.mouse.move(d4.x, d4.y - 15, { steps: 5 });
    await page.mouse.up();
    await expect.poll(() => num(summary(page), "delta-end")).toBeGreaterThan(deltaEnd + 0.01);
    await settled(page);
    const raised = (await points(page, "delta"))?.[4]?.value ?? 0;
    expect(await num(summary(page), "delta-end")).toBeCloseTo(raised, 6);
    // split 0: all of it in the LR.
    expect(await num(summary(page), "final-lr")).toBeCloseTo(0.1 * raised, 6);
    await page.screenshot({ path: join(ARTIFACTS, "designer-smoothing.png") });

    // Back to LR and batch lanes: the same curves as keyframes.
    const finalLr = await num(summary(page), "final-lr");
    await page.getByTestId("mode-lanes").check();
    await expect.poll(() => page.getByTestId("designer").getAttribute("data-mode")).toBe("lanes");
    await settled(page);
    expect(await num(summary(page), "final-lr")).toBeCloseTo(finalLr, 7);
    expect(await lane(page, "lr").getAttribute("data-kind")).toBe("keyframes");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("saves the schedule as JSON and opens it again; a bad file lists its issues and changes nothing", async () => {
    const page = await open();
    await page.getByTestId("preset-paper-hybrid").click();
    await page.getByTestId("family-lr").selectOption("cosine");
    await page.getByTestId("lr-tMax").fill("150");
    await page.getByTestId("lr-tMax").press("Enter");
    await page.getByTestId("name").fill("e2e saved");
    await page.getByTestId("name").press("Tab");
    await expect.poll(() => lane(page, "lr").getAttribute("data-kind")).toBe("cosine");
    await settled(page);
    const before = {
      lr: await num(summary(page), "final-lr"),
      updates: await num(summary(page), "updates"),
    };
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByTestId("save").click(),
    ]);
    expect(download.suggestedFilename()).toBe("e2e_saved.json");
    const saved = join(dir, "e2e_saved.json");
    await download.saveAs(saved);
    const doc = JSON.parse(readFileSync(saved, "utf8"));
    expect(doc).toMatchObject({
      version: 1,
      name: "e2e saved",
      lr: { kind: "cosine", lr: 0.1, tMax: 150 },
      batch: { kind: "step", size: 128, factor: 1.5, every: 40 },
    });
    const t = compileSchedule(parseSchedule(doc), { datasetSize: N }).totals;
    expect(before.lr).toBeCloseTo(t.finalLr, 7);
    expect(before.updates).toBe(t.updates);

    await page.getByTestId("preset-paper-constant").click();
    await expect.poll(() => num(summary(page), "final-lr")).toBe(0.1);
    await page.getByTestId("open-file").setInputFiles(saved);
    await expect.poll(() => num(summary(page), "updates")).toBe(t.updates);
    await settled(page);
    expect(await num(summary(page), "final-lr")).toBeCloseTo(t.finalLr, 7);
    expect(await page.getByTestId("name").inputValue()).toBe("e2e saved");
    expect(await page.getByTestId("lr-tMax").inputValue()).toBe("150");

    // A file with mistakes: every issue with its path, value and message; the design stays.
    const bad = join(dir, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({
        version: 1,
        epochs: 200,
        lr: { kind: "multistep", lr: 0.1, milestones: [30, 20], gamma: 0.1 },
        batch: { kind: "constant", size: 12.5 },
      }),
    );
    await page.getByTestId("open-file").setInputFiles(bad);
    const dialog = page.getByTestId("issues");
    await dialog.waitFor();
    expect(await dialog.locator("h2").textContent()).toContain("bad.json");
    const rows = await dialog.getByTestId("issue").allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/lr\.milestones\[1\]\s*20\s*milestones must be strictly increasing/);
    expect(rows[1]).toMatch(/batch\.size\s*12\.5\s*batch size must be a whole number/);
    await page.screenshot({ path: join(ARTIFACTS, "designer-issues.png") });
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect(await num(summary(page), "final-lr")).toBeCloseTo(t.finalLr, 7);

    const broken = join(dir, "broken.json");
    writeFileSync(broken, '{"version": 1, "epochs": ');
    await page.getByTestId("open-file").setInputFiles(broken);
    await dialog.waitFor();
    expect(await dialog.getByTestId("issue").first().textContent()).toMatch(/not valid JSON/);
    await page.getByTestId("issues-close").click();
    expect(errors).toEqual([]);
    await page.close();
  });

  it("copies PyTorch code (a dialog when the clipboard is refused); overlays a second schedule; estimates the duration; switches the axis", async () => {
    const page = await open({ permissions: ["clipboard-read", "clipboard-write"] });
    await page.getByTestId("preset-paper-hybrid").click();
    await settled(page);
    await page.getByTestId("copy-pytorch").click();
    await expect.poll(() => page.getByTestId("notice").textContent()).toMatch(/Copied \d+ lines/);
    const code = await page.evaluate(() => navigator.clipboard.readText());
    expect(code).toContain("torch");
    expect(code).toContain("0.1");

    // Throughput of the completed run in the library: samples / wall time.
    const runs = (await app.service.call("runs.list", {})) as {
      samples: number;
      wallTime: number;
    }[];
    const ips = (runs[0]?.samples ?? 0) / (runs[0]?.wallTime ?? 1);
    expect(ips).toBeGreaterThan(0);
    const samples = await num(summary(page), "samples");
    expect(await num(summary(page), "estimate-seconds")).toBeCloseTo(samples / ips, 0);
    expect(await page.getByTestId("throughput").textContent()).toMatch(
      /img\/s of\s+mlp · default \(1 run\)/,
    );
    expect(await page.getByTestId("sum-duration").textContent()).toMatch(/≈ \d/);

    // Overlay: B drawn in every lane, a column in the summary.
    await page.getByTestId("compare").selectOption("preset:paper-lr-decay");
    await expect.poll(() => num(lane(page, "lr"), "overlay-n")).toBeGreaterThan(2);
    expect(await num(lane(page, "batch"), "overlay-n")).toBeGreaterThan(1);
    expect(await num(lane(page, "delta"), "overlay-n")).toBeGreaterThan(1);
    expect(await summary(page).locator("thead").textContent()).toContain("B: paper-lr-decay");
    await page.screenshot({ path: join(ARTIFACTS, "designer-compare.png") });

    // Axis units: steps and samples end where the summary says the run ends.
    await page.getByTestId("unit-samples").check();
    await expect.poll(() => num(lane(page, "lr"), "x-max")).toBe(samples);
    await page.getByTestId("unit-steps").check();
    await expect
      .poll(() => num(lane(page, "batch"), "x-max"))
      .toBe(await num(summary(page), "updates"));
    await page.getByTestId("log-lr").check();
    await page.screenshot({ path: join(ARTIFACTS, "designer-steps-log.png") });
    await page.getByTestId("compare").selectOption("");
    await expect.poll(() => num(lane(page, "lr"), "overlay-n")).toBe(0);

    // With a noise level C, δ in absolute terms: lr * C / sqrt(b).
    await page.getByTestId("noise").fill("2");
    await expect
      .poll(() => num(summary(page), "delta-start"))
      .toBeCloseTo((0.1 * 2) / Math.sqrt(128), 7);
    expect(await lane(page, "delta").locator("h3").textContent()).toBe("Smoothing δ");
    await page.getByTestId("dataset-size").fill("60000");
    await expect.poll(() => num(summary(page), "samples")).toBe(200 * 60_000);

    // The layout fits 1280 wide: nothing scrolls sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      1280,
    );
    expect(errors).toEqual([]);
    await page.close();

    // Clipboard refused: the code in a dialog, selected, ready to copy.
    const denied = await open();
    await denied.evaluate(() => {
      Object.defineProperty(navigator, "clipboard", {
        value: { writeText: () => Promise.reject(new DOMException("denied", "NotAllowedError")) },
      });
    });
    await denied.getByTestId("copy-pytorch").click();
    await denied.getByTestId("code-dialog").waitFor();
    expect(await denied.getByTestId("code").inputValue()).toContain("torch");
    await denied.screenshot({ path: join(ARTIFACTS, "designer-code-dialog.png") });
    await denied.close();
  });

  it("trains with the designed schedule: the Run view opens with it selected and the run uses it", async () => {
    const page = await open();
    await page.getByTestId("preset-cosine").click();
    await settled(page);
    await page.getByTestId("name").fill("my-cosine");
    await settled(page);
    await page.getByTestId("train-with").click();
    // The Run view, with the designed schedule selected and its full length.
    await page.getByTestId("start").waitFor();
    expect(new URL(page.url()).hash).toBe("#run");
    const select = page.getByTestId("schedule");
    expect(await select.inputValue()).toBe("designer:");
    expect(await select.locator("option:checked").textContent()).toBe("Designer: my-cosine");
    const designedEpochs = findPreset("cosine")?.schedule.epochs as number;
    expect(Number(await page.getByLabel("Epochs").inputValue())).toBe(designedEpochs);
    await page.screenshot({ path: join(ARTIFACTS, "designer-train-with.png") });

    // A short run of it: the service receives the document itself, not a preset name.
    await page.getByLabel("Epochs").fill("1");
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "completed" }).waitFor({ timeout: 120_000 });
    const runs = await app.service.call("runs.list", {});
    const records = await Promise.all(runs.map((r) => app.service.call("runs.get", { id: r.id })));
    const specOf = (r: (typeof records)[number]) =>
      r.spec as { schedule: { name?: string; lr?: { kind?: string } }; epochs?: number };
    const scheduleOf = (r: (typeof records)[number]) => specOf(r).schedule;
    const full = records.find((r) => scheduleOf(r).name === "my-cosine");
    if (!full) throw new Error(`no run with the designed schedule among ${runs.length}`);
    const sent = scheduleOf(full);
    expect(sent.name).toBe("my-cosine");
    expect(sent.lr?.kind).toBe(
      (findPreset("cosine")?.schedule as { lr: { kind: string } }).lr.kind,
    );
    expect(specOf(full).epochs).toBe(1);

    // An invalid schedule cannot be handed over.
    await page.getByTestId("tab-designer").click();
    await settled(page);
    expect(await page.getByTestId("train-with").isDisabled()).toBe(false);
    await page.getByTestId("lr-lr").fill("-1");
    await expect.poll(() => page.getByTestId("train-with").isDisabled()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });
});
