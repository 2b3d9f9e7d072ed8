/**
 * The compare view on a big library: 20 runs x 80,000 steps (every step
 * logged: loss, lr, batchSize, delta, gradNorm, throughput; per epoch the
 * accuracies), written with the library's own API (RunStore + recorder),
 * served by the real web host, opened in Debian's Chromium (playwright-core)
 * with all 20 runs selected. Reported, from the view's own timing
 * (data-draw-* attributes, set one animation frame after the charts drew):
 *   - first draw: from the view opening to every chart drawn with all runs
 *     (and to the first runs drawn: they come in a few runs per call);
 *   - redraw after a smoothing change (median of several weights);
 *   - x axis change (new store query), grouping into mean + band, zoom
 *     (with the zoomed range fetched at full detail);
 *   - the store query alone (20 series of 80,000 points down to 2,000).
 * Run: npx tsx bench/compare-draw.bench.ts   (RUNS=20 STEPS=80000;
 * BENCH_HOME=<dir> keeps the library there and reuses it on the next run)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer } from "../cli/serve/server.js";
import { startTraining } from "../core/engine/worker-client.js";
import { runMethods } from "../core/service/runs.js";
import { Service } from "../core/service/service.js";
import { testSpec } from "../core/store/fixtures.js";
import { RunStore } from "../core/store/store.js";
import { CHROMIUM } from "../tests/e2e/browser.js";

const RUNS = Number(process.env.RUNS ?? 20);
const STEPS = Number(process.env.STEPS ?? 80_000);
const EPOCHS = 200;
const TRAIN = 50_000;
const REPEATS = Number(process.env.REPEATS ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function rng(seed: number): () => number {
  let a = seed * 2654435761 + 7;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A library of RUNS runs of STEPS steps; half grow their batch (so samples seen is the default axis). */
function buildLibrary(home: string): string[] {
  const store = RunStore.open(home);
  const have = store.listRuns({ status: "completed", order: "oldest" });
  if (have.length >= RUNS) {
    store.close();
    return have.slice(0, RUNS).map((r) => r.id);
  }
  const ids: string[] = [];
  const t0 = performance.now();
  for (let r = 0; r < RUNS; r++) {
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
    const random = rng(r);
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
          loss: 0.2 + 2 * Math.exp(-s / 8000) + 0.2 * (random() - 0.5) + 0.01 * r,
          lr,
          batchSize: b,
          delta: (lr * 3) / Math.sqrt(b),
          gradNorm: 1 + random(),
          throughput: 5000 + 500 * random(),
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
        const acc = 0.5 + 0.4 * (1 - Math.exp(-(epoch + 1) / 40)) + 0.01 * random();
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

async function main() {
  if (!existsSync(CHROMIUM)) {
    console.log(`skipped: ${CHROMIUM} not found (apt-get install chromium)`);
    return;
  }
  const keep = process.env.BENCH_HOME;
  const home = keep ?? mkdtempSync(join(tmpdir(), "bench-compare-"));
  mkdirSync(home, { recursive: true });
  const ids = buildLibrary(home);

  // The store query alone, as the view asks for it (loss of every run, 2,000 points each).
  const store = RunStore.open(home);
  const q: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    store.queryMetrics({ runIds: ids, keys: ["loss"], x: "samples", maxPoints: 2000 });
    q.push(performance.now() - t0);
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
    await page.addInitScript((sel) => {
      localStorage.setItem("sgd-studio.compare.runs", sel);
    }, JSON.stringify(ids));
    const view = page.getByTestId("compare-view");
    const drawn = async (kind: string) => {
      await page
        .locator(`[data-testid="compare-view"][data-draw-done="true"][data-draw-kind="${kind}"]`)
        .waitFor({ timeout: 120_000 });
      return {
        ms: Number(await view.getAttribute("data-draw-ms")),
        first: Number(await view.getAttribute("data-first-draw-ms")),
        at: Number(await view.getAttribute("data-draw-at")),
      };
    };

    const loads: { ms: number; first: number; at: number }[] = [];
    for (let i = 0; i < 3; i++) {
      await page.goto(`${server.url}#compare`);
      loads.push(await drawn("load"));
    }
    const load = loads.sort((a, b) => a.ms - b.ms)[1] as (typeof loads)[number];
    out["first draw, 20 runs x 2 charts (view open -> all drawn)"] = `${load.ms.toFixed(0)} ms`;
    out["first runs drawn (view open -> first chunk drawn)"] = `${load.first.toFixed(0)} ms`;
    out["navigation start -> all drawn"] = `${load.at.toFixed(0)} ms`;
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

    await page.getByTestId("x-axis").selectOption("step");
    out["x axis -> step (store query + draw)"] = `${(await drawn("xaxis")).ms.toFixed(0)} ms`;
    await page.getByTestId("group-by").selectOption("schedule");
    out["group by schedule (2 groups of 10, mean + band)"] =
      `${(await drawn("group")).ms.toFixed(0)} ms`;
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
    // The zoomed range is then fetched at full detail (debounced 150 ms) and drawn again.
    await page.getByText("(full detail)").waitFor({ timeout: 60_000 });
    const detail = await drawn("zoom");
    out["zoom (drag): redraw"] = `${zoomed.ms.toFixed(0)} ms`;
    out["zoom: full-detail fetch + redraw"] = `${detail.ms.toFixed(0)} ms`;
    if (errors.length) throw new Error(errors.join("\n"));
  } finally {
    await browser.close();
    await server.close();
    await service.close();
    if (!keep) rmSync(home, { recursive: true, force: true });
  }

  console.log(
    `\ncompare view, ${RUNS} runs x ${STEPS} steps; ${cpus().length} cores, Node ${process.version}`,
  );
  console.log(
    `store query alone: loss of ${RUNS} runs down to 2,000 points each: ${median(q).toFixed(0)} ms`,
  );
  for (const [k, v] of Object.entries(out)) console.log(`${k.padEnd(58)} ${v}`);
}

await main();
