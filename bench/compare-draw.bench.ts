/**
 * The library at sweep scale: 200 runs x 80,000 steps (every step logged:
 * loss, lr, batchSize, delta, gradNorm, throughput; per epoch the
 * accuracies, noiseC, tensors), written with the library's own API
 * (RunStore + the real recorder), served by the real web host, opened in
 * Debian's Chromium (playwright-core). Reported:
 *   - bytes per stored value (the library file over the values it holds);
 *   - the store query alone, per series (loss of 20 runs down to 2,000 points);
 *   - the Library view opening with every run listed (navigation -> rows shown);
 *   - from the Compare view's own timing (data-draw-* attributes, set one
 *     animation frame after the charts drew), with OPEN runs selected (20, then
 *     100): first draw (view open -> every chart drawn with all runs); for the
 *     first size also a smoothing change, an x axis change (new store query),
 *     grouping into mean + band and zoom (with the zoomed range fetched again,
 *     at finer detail).
 * loss and gradNorm are float32 numbers, as tfjs hands them to the recorder;
 * lr, delta and throughput are doubles, batchSize an integer.
 * Run: npx tsx bench/compare-draw.bench.ts   (RUNS=200 STEPS=80000 OPEN=20,100)
 * The library is generated once (about 10 minutes at 200 runs on 2 cores) and
 * cached in /tmp/sgd-studio-bench-<RUNS>x<STEPS>-schema<version>/ for the next
 * runs (BENCH_HOME=<dir> to put it elsewhere; delete the folder to rebuild).
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer } from "../cli/serve/server.js";
import { Rng } from "../core/data/rng.js";
import { startTraining } from "../core/engine/worker-client.js";
import { runMethods } from "../core/service/runs.js";
import { Service } from "../core/service/service.js";
import { testSpec } from "../core/store/fixtures.js";
import { SCHEMA_VERSION } from "../core/store/schema.js";
import { libraryInternals, RunStore } from "../core/store/store.js";
import { CHROMIUM } from "../tests/e2e/browser.js";

const RUNS = Number(process.env.RUNS ?? 200);
/** How many runs the Compare view opens with, in turn. */
const OPEN = (process.env.OPEN ?? "20,100")
  .split(",")
  .map(Number)
  .filter((n) => n > 0 && n <= RUNS);
const STEPS = Number(process.env.STEPS ?? 80_000);
const EPOCHS = 200;
const TRAIN = 50_000;
const REPEATS = Number(process.env.REPEATS ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** A library of RUNS runs of STEPS steps; half grow their batch (so samples seen is the default axis). */
function buildLibrary(home: string): string[] {
  const store = RunStore.open(home);
  const have = store.listRuns({ status: "completed", order: "oldest" });
  if (have.length >= RUNS) {
    store.close();
    return have.slice(0, RUNS).map((r) => r.id);
  }
  // A cache cut short (Ctrl-C) keeps its finished runs; the rest are written now.
  const ids: string[] = have.map((r) => r.id);
  const t0 = performance.now();
  for (let r = have.length; r < RUNS; r++) {
    const grow = r % 2 === 1;
    const batch = grow
      ? { kind: "step", size: 128, factor: 2, every: 40 }
      : { kind: "constant", size: 128 };
    const run = store.createRun(
      testSpec({
        seed: Math.floor(r / 2),
        schedule: {
          version: 1,
          name: grow ? "batch-growth" : "cosine",
          epochs: EPOCHS,
          lr: { kind: "cosine", lr: 0.1 },
          batch,
        },
      }),
    );
    ids.push(run.id);
    const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0, flushRows: 8192 });
    const random = Rng.from(r);
    const perEpoch = STEPS / EPOCHS;
    rec.record({
      type: "start",
      backend: "cpu",
      backendSummary: "cpu (bench)",
      dataset: { name: "bench", train: TRAIN, test: 10_000, shape: [32, 32, 3], source: "bench" },
      model: { name: "mlp", parameters: 1000 },
      epochs: EPOCHS,
      steps: STEPS,
      startEpoch: 0,
      warnings: [],
    });
    let samples = 0;
    for (let s = 0; s < STEPS; s++) {
      const epoch = Math.floor(s / perEpoch);
      const b = grow ? 128 * 2 ** Math.floor(epoch / 40) : 128;
      samples += b;
      const lr = 0.05 * (1 + Math.cos((Math.PI * s) / STEPS));
      rec.log(
        {
          loss: Math.fround(
            0.2 + 2 * Math.exp(-s / 8000) + 0.2 * (random.uniform() - 0.5) + 0.01 * r,
          ),
          lr,
          batchSize: b,
          delta: (lr * 3) / Math.sqrt(b),
          gradNorm: Math.fround(1 + random.uniform()),
          throughput: 5000 + 500 * random.uniform(),
        },
        {
          step: s,
          epoch,
          epochsDone: epoch + (s % perEpoch) / perEpoch,
          samples,
          wallTime: s * 0.02,
        },
      );
      if ((s + 1) % perEpoch === 0) {
        const acc = 0.5 + 0.4 * (1 - Math.exp(-(epoch + 1) / 40)) + 0.01 * random.uniform();
        rec.record({
          type: "epoch",
          epoch,
          trainLoss: 0.3,
          trainAccuracy: acc + 0.05,
          testLoss: 0.4,
          testAccuracy: acc,
          wallTime: s * 0.02,
          noiseC: 3,
          tensors: 10,
        });
      }
    }
    rec.record({
      type: "summary",
      status: "completed",
      epochs: EPOCHS,
      steps: STEPS,
      testAccuracy: null,
      bestTestAccuracy: null,
      bestEpoch: null,
      wallTime: STEPS * 0.02,
      checkpoint: null,
    });
    rec.close();
    process.stdout.write(`\rlibrary: ${r + 1}/${RUNS} runs written`);
  }
  process.stdout.write(` (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  store.close();
  return ids;
}

/** Values the library holds: every step key at every step, the epoch keys at every epoch. */
const VALUES_PER_RUN = STEPS * 6 + EPOCHS * 7;

async function main() {
  if (!existsSync(CHROMIUM)) {
    console.log(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
    return;
  }
  const home =
    process.env.BENCH_HOME ??
    join(tmpdir(), `sgd-studio-bench-${RUNS}x${STEPS}-schema${SCHEMA_VERSION}`);
  mkdirSync(home, { recursive: true });
  console.log(`library: ${home} (cached between runs; delete it to rebuild)`);
  const ids = buildLibrary(home);

  const store = RunStore.open(home);
  // Fold the WAL into the file, so its size is the library's.
  libraryInternals(store).db.pragma("wal_checkpoint(TRUNCATE)");
  const bytes = statSync(join(home, "library.db")).size;
  // The store query alone, as the view asks for it (loss of 20 runs, 2,000 points each).
  const first = ids.slice(0, Math.min(20, ids.length));
  const q: Record<string, number[]> = { samples: [], step: [] };
  store.queryMetrics({ runIds: first, keys: ["loss"], x: "samples", maxPoints: 2000 }); // warm-up
  for (let i = 0; i < 11; i++)
    for (const x of ["samples", "step"] as const) {
      const t0 = performance.now();
      store.queryMetrics({ runIds: first, keys: ["loss"], x, maxPoints: 2000 });
      q[x]?.push((performance.now() - t0) / first.length);
    }
  // A zoomed range (a twentieth of the run, in the middle), as the view asks for it.
  const zq: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    store.queryMetrics({
      runIds: first,
      keys: ["loss"],
      x: "step",
      maxPoints: 2000,
      from: STEPS * 0.45,
      to: STEPS * 0.5,
    });
    zq.push((performance.now() - t0) / first.length);
  }
  const lq: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    store.listRuns();
    lq.push(performance.now() - t0);
  }
  store.close();

  const service = new Service({
    home,
    runs: runMethods({ home, launch: startTraining, autoStart: false }),
  });
  const server = await startServer({ service, port: 0 });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  const out: Record<string, string> = {};
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));

    // The Library view: from the tab's click (the app already loaded, on an empty Compare view)
    // to the table listing every run, its first screenful of rows drawn (the table draws the rows
    // in view: lib/virtual.svelte.ts); and from navigation start (the page's own load included).
    // The click's time is the event's own timestamp, so Playwright's click overhead is not counted.
    const rowsShown = (n: number) =>
      page.waitForFunction(
        (k) => {
          const t = document.querySelector('[data-testid="runs-table"]');
          const drawn = t?.querySelectorAll("tbody tr[data-testid^=row-]").length ?? 0;
          return t?.getAttribute("data-rows-total") === String(k) && drawn >= Math.min(k, 20)
            ? performance.now()
            : null;
        },
        n,
        { timeout: 120_000, polling: "raf" },
      );
    const clickTime = () =>
      page.evaluate(() =>
        document.addEventListener(
          "click",
          (e) => {
            (window as unknown as { clickAt: number }).clickAt = e.timeStamp;
          },
          { capture: true, once: true },
        ),
      );
    const clickedAt = () => page.evaluate(() => (window as unknown as { clickAt: number }).clickAt);
    const libs: number[] = [];
    const navs: number[] = [];
    const scrolls: number[] = [];
    await page.goto(`${server.url}#compare`);
    await page.evaluate(() => localStorage.setItem("sgd-studio.compare.runs", "[]"));
    for (let i = 0; i < 3; i++) {
      await page.goto(`${server.url}#compare`);
      await page.reload();
      await page.getByTestId("compare-view").waitFor();
      await clickTime();
      await page.getByTestId("tab-library").click();
      const shownAt = (await (await rowsShown(ids.length)).jsonValue()) as number;
      libs.push(shownAt - (await clickedAt()));
      // Scrolled to the end: the last run's row drawn (a Playwright round trip included).
      const s0 = (await page.evaluate(() => performance.now())) as number;
      await page.evaluate(() => {
        const wrap = document.querySelector(".table-wrap");
        if (wrap) wrap.scrollTop = wrap.scrollHeight;
      });
      // The table lists newest first: the oldest run's row is the last.
      await page.getByTestId(`row-${ids[0]}`).waitFor({ timeout: 30_000 });
      scrolls.push(((await page.evaluate(() => performance.now())) as number) - s0);
      await page.goto(`${server.url}#library`);
      await page.reload();
      navs.push((await (await rowsShown(ids.length)).jsonValue()) as number);
    }
    out[`Library view, ${ids.length} runs (tab click -> listed, rows in view drawn)`] =
      `${median(libs).toFixed(0)} ms (${libs.map((x) => x.toFixed(0)).join(", ")})`;
    out["  scrolled to the end -> last row drawn (a Playwright round trip included)"] =
      `${median(scrolls).toFixed(0)} ms (${scrolls.map((x) => x.toFixed(0)).join(", ")})`;
    out["  navigation start (page load included) -> all rows shown"] =
      `${median(navs).toFixed(0)} ms (${navs.map((x) => x.toFixed(0)).join(", ")})`;

    const view = page.getByTestId("compare-view");
    const drawn = async (kind: string) => {
      await page
        .locator(`[data-testid="compare-view"][data-draw-done="true"][data-draw-kind="${kind}"]`)
        .waitFor({ timeout: 300_000 });
      // One read of all three (separate reads could straddle a later frame).
      return view.evaluate((el) => ({
        ms: Number(el.getAttribute("data-draw-ms")),
        first: Number(el.getAttribute("data-first-draw-ms")),
        at: Number(el.getAttribute("data-draw-at")),
      }));
    };

    for (const [n, open] of OPEN.entries()) {
      const selection = JSON.stringify(ids.slice(0, open));
      await page.evaluate((sel) => localStorage.setItem("sgd-studio.compare.runs", sel), selection);
      const loads: { ms: number; first: number; at: number }[] = [];
      for (let i = 0; i < 3; i++) {
        await page.goto(`${server.url}#compare`);
        await page.evaluate(
          (sel) => localStorage.setItem("sgd-studio.compare.runs", sel),
          selection,
        );
        await page.reload();
        loads.push(await drawn("load"));
      }
      const load = loads.sort((a, b) => a.ms - b.ms)[1] as (typeof loads)[number];
      out[`first draw, ${open} runs x 2 charts (view open -> all drawn)`] =
        `${load.ms.toFixed(0)} ms (${loads.map((l) => l.ms.toFixed(0)).join(", ")})`;
      out[`  first runs drawn (view open -> first chunk drawn)`] = `${load.first.toFixed(0)} ms`;
      out[`  navigation start -> all drawn`] = `${load.at.toFixed(0)} ms`;
      if (n > 0) continue;
      out["x axis"] = (await page.getByTestId("x-axis").inputValue()) as string;

      const smooth: number[] = [];
      for (const w of [0.9, 0.3, 0.75, 0.5, 0.95, 0.6, 0.8].slice(0, Math.max(REPEATS, 3))) {
        const seq = Number(await view.getAttribute("data-draw-seq"));
        await page.getByTestId("smoothing-value").fill(String(w));
        await page.getByTestId("smoothing-value").press("Enter");
        const d = await drawn("smoothing");
        if (Number(await view.getAttribute("data-draw-seq")) <= seq) throw new Error("no redraw");
        smooth.push(d.ms);
      }
      out["redraw after a smoothing change (median)"] =
        `${median(smooth).toFixed(0)} ms (${smooth.map((x) => x.toFixed(0)).join(", ")})`;

      const xs: number[] = [];
      for (const axis of ["step", "epoch", "wallTime"]) {
        await page.getByTestId("x-axis").selectOption(axis);
        xs.push((await drawn("xaxis")).ms);
      }
      out[`x axis change, ${open} runs (store query + draw; step, epoch, wall time)`] =
        `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(", ")})`;
      await page.getByTestId("x-axis").selectOption("step");
      await drawn("xaxis");
      await page.getByTestId("group-by").selectOption("schedule");
      out["group by schedule (mean + band)"] = `${(await drawn("group")).ms.toFixed(0)} ms`;
      await page.getByTestId("group-by").selectOption("none");
      await drawn("group");

      const canvas = page.locator("[data-testid=chart-loss] canvas");
      const box = (await canvas.boundingBox()) as {
        x: number;
        y: number;
        width: number;
        height: number;
      };
      await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.45, box.y + box.height / 2, { steps: 4 });
      await page.mouse.up();
      const zoomed = await drawn("zoom");
      // The zoomed range is then fetched again at finer detail (debounced 150 ms) and drawn.
      await page
        .locator('[data-testid="zoom-note"]:not([data-detail="none"])')
        .waitFor({ timeout: 120_000 });
      const detail = await drawn("zoom");
      out["zoom (drag): redraw"] = `${zoomed.ms.toFixed(0)} ms`;
      out["zoom: finer fetch of the visible range + redraw"] = `${detail.ms.toFixed(0)} ms`;
    }
    if (errors.length) throw new Error(errors.join("\n"));
  } finally {
    await browser.close();
    await server.close();
    await service.close();
  }

  const values = ids.length * VALUES_PER_RUN;
  console.log(
    `\nlibrary: ${RUNS} runs x ${STEPS} steps, schema ${SCHEMA_VERSION}; ${cpus().length} cores, Node ${process.version}`,
  );
  console.log(
    `file: ${(bytes / 1e6).toFixed(0)} MB for ${(values / 1e6).toFixed(1)} M values: ${(bytes / values).toFixed(1)} bytes per value`,
  );
  console.log(
    `store query per series (loss, 2,000 points): x=samples ${median(q.samples ?? []).toFixed(2)} ms, x=step ${median(q.step ?? []).toFixed(2)} ms; a 5% zoomed range ${median(zq).toFixed(2)} ms`,
  );
  console.log(`store listRuns (${ids.length} runs): ${median(lq).toFixed(1)} ms`);
  for (const [k, v] of Object.entries(out)) console.log(`${k.padEnd(66)} ${v}`);
}

await main();
