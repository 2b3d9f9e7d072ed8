// The chunk layouts' edge cases, each checked three ways: the export (decoded in TypeScript), the
// metric_values view (decoded in SQL) and verifySeries (summaries, axis and run_metrics agree).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { testSpec } from "./fixtures.js";
import { verifySeries } from "./series.js";
import { libraryInternals, RunStore } from "./store.js";

let home = "";
let store: RunStore;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "series-"));
  store = RunStore.open(home);
});
afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

type Row = [
  key: string,
  step: number,
  epoch: number,
  ed: number,
  samples: number,
  wall: number,
  value: number | null,
];

/** Every value of the run, from the view and from the export: they must be the same rows. */
function rowsOf(id: string): { view: Row[]; exported: Row[] } {
  const view = libraryInternals(store)
    .db.prepare(
      "SELECT key, step, epoch, epochs_done, samples, wall_time, value FROM metric_values WHERE run_id = ? ORDER BY key, step",
    )
    .raw()
    .all(id) as Row[];
  const run = store.exportRuns([id]).runs[0];
  const exported: Row[] = [];
  for (const [key, m] of Object.entries(run?.metrics ?? {}))
    for (let i = 0; i < m.step.length; i++)
      exported.push([
        key,
        m.step[i] as number,
        m.epoch[i] as number,
        m.epochsDone[i] as number,
        m.samples[i] as number,
        m.wallTime[i] as number,
        m.value[i] ?? null,
      ]);
  return { view, exported };
}

function consistent(id: string): void {
  expect(verifySeries(libraryInternals(store).db, libraryInternals(store).pk(id))).toEqual([]);
}

it("stores every kind of value exactly: float32, float64, integers, missing, tiny, huge, negative", () => {
  const id = store.createRun(testSpec()).id;
  const rec = store.recorder(id, { flushMs: 0, heartbeatMs: 0, flushRows: 100 });
  const specials = [0, -0.5, 1e-310, 5e-324, 1.7976931348623157e308, -3.4e38, 2 ** 24 + 1, Math.PI];
  const want: Row[] = [];
  for (let s = 0; s < 2500; s++) {
    const f32 = Math.fround(Math.sin(s));
    const f64 = s < specials.length ? (specials[s] as number) : Math.cos(s) * 1e-3;
    const missing = s % 97 === 0 ? Number.NaN : s;
    const at = {
      step: s,
      epoch: Math.floor(s / 300),
      epochsDone: s / 300,
      samples: s * 10,
      wallTime: s / 7,
    };
    rec.log({ a32: f32, b64: f64, cInt: missing }, at);
    want.push(["a32", s, at.epoch, at.epochsDone, at.samples, at.wallTime, f32]);
    want.push(["b64", s, at.epoch, at.epochsDone, at.samples, at.wallTime, f64]);
    want.push([
      "cInt",
      s,
      at.epoch,
      at.epochsDone,
      at.samples,
      at.wallTime,
      s % 97 === 0 ? null : s,
    ]);
  }
  rec.close();
  want.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1]));
  const { view, exported } = rowsOf(id);
  expect(exported).toEqual(want);
  expect(view).toEqual(want);
  const widths = libraryInternals(store)
    .db.prepare(
      "SELECT k.name, min(c.width) AS lo, max(c.width) AS hi FROM metric_chunks c JOIN metric_keys k ON k.id = c.key_id GROUP BY k.name ORDER BY k.name",
    )
    .all();
  expect(widths).toEqual([
    { name: "a32", lo: 4, hi: 4 },
    { name: "b64", lo: 8, hi: 8 },
    { name: "cInt", lo: 4, hi: 4 },
  ]);
  expect(store.bestAndFinal(id, "b64", "max").best?.value).toBe(1.7976931348623157e308);
  expect(store.bestAndFinal(id, "cInt")).toMatchObject({
    count: 2500 - 26,
    final: { value: 2499 },
  });
  consistent(id);
});

it("x that do not fit the axis (fractional samples, hundreds of epochs per chunk, steps out of order)", () => {
  const id = store.createRun(testSpec()).id;
  const rec = store.recorder(id, { flushMs: 0, heartbeatMs: 0, flushRows: 64 });
  const want = new Map<string, Row>();
  const put = (key: string, step: number, epoch: number, samples: number, value: number) => {
    const wall = step * 0.5;
    rec.log({ [key]: value }, { step, epoch, epochsDone: epoch + 0.25, samples, wallTime: wall });
    want.set(`${key}:${step}`, [key, step, epoch, epoch + 0.25, samples, wall, value]);
  };
  // One epoch per step: 600 epochs in the first axis chunk (uint16 offsets).
  for (let s = 0; s < 600; s++) put("perEpoch", s, s, s * 3, s / 3);
  // Fractional samples: kept with their own x.
  for (let s = 0; s < 50; s++) put("frac", s * 4, s * 4, s * 1.5, -s - 1);
  // Every 10th step, then the steps between, logged later (merged into the stored chunks).
  for (let s = 0; s < 3000; s += 10) put("late", s, Math.floor(s / 100), s, s);
  rec.flush();
  for (let s = 5; s < 3000; s += 10) put("late", s, Math.floor(s / 100), s, -s - 1);
  // A value replaced: the second one wins, as INSERT OR REPLACE did.
  put("late", 20, 0, 20, 1234.5);
  rec.close();
  const { view, exported } = rowsOf(id);
  const sorted = [...want.values()].sort((x, y) =>
    x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1],
  );
  expect(exported).toEqual(sorted);
  expect(view).toEqual(sorted);
  expect(store.bestAndFinal(id, "late", "max").best).toMatchObject({ value: 2990, step: 2990 });
  expect(store.metricKeys(id).find((k) => k.key === "late")).toMatchObject({
    count: 600,
    firstStep: 0,
    lastStep: 2995,
  });
  consistent(id);
});

it("a resume drops exactly the values of later epochs, in every chunk they reach", () => {
  const id = store.createRun(testSpec()).id;
  const first = store.recorder(id, { flushMs: 0, heartbeatMs: 0, flushRows: 500 });
  for (let s = 0; s < 5000; s++) {
    const epoch = Math.floor(s / 700);
    first.log(
      { loss: s, lr: -s - 1 },
      { step: s, epoch, epochsDone: s / 700, samples: s * 2, wallTime: s },
    );
    if ((s + 1) % 700 === 0) first.log({ acc: epoch }, { step: s, epoch, epochsDone: epoch + 1 });
  }
  first.close();
  const before = rowsOf(id).view;
  const second = store.recorder(id, { flushMs: 0, heartbeatMs: 0 });
  second.record({
    type: "start",
    backend: "cpu",
    backendSummary: "test",
    dataset: { name: "t", train: 1400, test: 0, shape: [1], source: "t" },
    model: { name: "mlp", parameters: 1 },
    epochs: 10,
    steps: 7000,
    startEpoch: 3,
    warnings: [],
  });
  second.close();
  const after = rowsOf(id);
  expect(after.view).toEqual(before.filter((r) => r[2] < 3));
  expect(after.exported).toEqual(after.view);
  expect(store.bestAndFinal(id, "loss")).toMatchObject({ final: { value: 2099, step: 2099 } });
  expect(store.bestAndFinal(id, "acc")).toMatchObject({ count: 3, final: { value: 2 } });
  consistent(id);
});
