// Comparison queries: downsampling in SQL keeps every bucket's extremes; best and final values.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticRun, testSpec } from "./fixtures.js";
import { RunStore } from "./store.js";

let home = "";
let store: RunStore;
const N = 20_000;
let big = "";
let small = "";

/** A noisy decaying curve with one spike and one dip. */
function value(step: number): number {
  if (step === 12_345) return 100;
  if (step === 777) return -50;
  return 1 / (1 + step / 1000) + 0.05 * Math.sin(step * 0.37);
}

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "queries-"));
  store = RunStore.open(home);
  big = store.createRun(testSpec()).id;
  const rec = store.recorder(big, { flushMs: 0, heartbeatMs: 0 });
  for (let s = 0; s < N; s++) {
    rec.log(
      { loss: value(s), lr: 0.1 },
      {
        step: s,
        epoch: Math.floor(s / 100),
        epochsDone: s / 100,
        samples: s * 64,
        wallTime: s * 0.01,
      },
    );
  }
  rec.close();
  small = store.createRun(testSpec()).id;
  const r2 = store.recorder(small, { flushMs: 0, heartbeatMs: 0 });
  for (const e of syntheticRun({ epochs: 3, stepsPerEpoch: 20 })) r2.record(e);
  r2.close();
});
afterAll(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

describe("queryMetrics", () => {
  it("keeps the min and max of every bucket, the first and the last point, within the budget", () => {
    const [s] = store.queryMetrics({ runIds: [big], keys: ["loss"], maxPoints: 200 });
    if (!s) throw new Error("no series");
    expect(s.total).toBe(N);
    expect(s.downsampled).toBe(true);
    expect(s.xs.length).toBeLessThanOrEqual(200);
    expect(s.xs.length).toBeGreaterThan(150);
    expect(s.values).toContain(100);
    expect(s.values).toContain(-50);
    expect(s.steps[0]).toBe(0);
    expect(s.steps.at(-1)).toBe(N - 1);
    expect(s.steps).toEqual([...s.steps].sort((a, b) => a - b));
    // The envelope: every value lies between picked points near it (buckets hold ~N/99 values,
    // cut at the summaries' 64-value boundaries), so no spike or dip is lost.
    const reach = 2 * Math.ceil(N / Math.floor((200 - 2) / 2) + 64);
    for (let step = 0; step < N; step += 7) {
      const near = s.steps
        .map((t, i) => [t, s.values[i] as number] as const)
        .filter(([t]) => Math.abs(t - step) <= reach)
        .map(([, v]) => v);
      expect(Math.min(...near)).toBeLessThanOrEqual(value(step));
      expect(Math.max(...near)).toBeGreaterThanOrEqual(value(step));
    }
    // Points are real rows: value matches its step.
    s.steps.forEach((step, i) => {
      expect(s.values[i]).toBe(value(step));
    });
  });

  it("plots against epoch, samples or wall time, within a range", () => {
    const byEpoch = store.queryMetrics({
      runIds: [big],
      keys: ["loss"],
      x: "epoch",
      maxPoints: 100,
    });
    expect(byEpoch[0]?.xs[0]).toBe(0);
    expect(byEpoch[0]?.xs.at(-1)).toBeCloseTo((N - 1) / 100);
    const bySamples = store.queryMetrics({
      runIds: [big],
      keys: ["loss"],
      x: "samples",
      from: 64 * 1000,
      to: 64 * 1999,
      maxPoints: 5000,
    })[0];
    expect(bySamples?.total).toBe(1000);
    expect(bySamples?.downsampled).toBe(false);
    expect(bySamples?.xs[0]).toBe(64_000);
    const byWall = store.queryMetrics({
      runIds: [big],
      keys: ["loss"],
      x: "wallTime",
      maxPoints: 50,
    })[0];
    expect(byWall?.xs.length).toBeLessThanOrEqual(50);
    expect(byWall?.values).toContain(100);
  });

  it("returns small series whole, one series per run and key, empty for unknown keys", () => {
    const series = store.queryMetrics({
      runIds: [small, big.slice(-6)],
      keys: ["testAccuracy", "nope"],
    });
    expect(series.map((s) => [s.runId, s.key, s.total])).toEqual([
      [small, "testAccuracy", 3],
      [small, "nope", 0],
      [big, "testAccuracy", 0],
      [big, "nope", 0],
    ]);
    expect(series[0]?.xs).toEqual([19, 39, 59]);
    expect(series[0]?.values.map((v) => Number(v.toFixed(2)))).toEqual([0.5, 0.6, 0.7]);
    expect(() => store.queryMetrics({ runIds: [small], keys: ["loss"], maxPoints: 2 })).toThrow(
      /at least 4/,
    );
  });

  it("zooming reads finer data for the range only: every value once the range holds few", () => {
    const whole = store.queryMetrics({ runIds: [big], keys: ["loss"], maxPoints: 400 })[0];
    const zoomed = store.queryMetrics({
      runIds: [big],
      keys: ["loss"],
      maxPoints: 400,
      from: 12_000,
      to: 13_000,
    })[0];
    const exact = store.queryMetrics({
      runIds: [big],
      keys: ["loss"],
      maxPoints: 400,
      from: 12_200,
      to: 12_500,
    })[0];
    if (!whole || !zoomed || !exact) throw new Error("no series");
    expect(whole.steps.filter((t) => t >= 12_000 && t <= 13_000).length).toBeLessThan(30);
    expect(zoomed.total).toBe(1001);
    expect(zoomed.downsampled).toBe(true);
    expect(zoomed.steps[0]).toBe(12_000);
    expect(zoomed.steps.at(-1)).toBe(13_000);
    expect(zoomed.steps.length).toBeGreaterThan(300);
    expect(zoomed.values).toContain(100);
    expect(exact.downsampled).toBe(false);
    expect(exact.steps).toEqual(Array.from({ length: 301 }, (_, i) => 12_200 + i));
    expect(exact.values).toEqual(exact.steps.map(value));
  });

  it("a 1000-point query over 20,000 rows is fast", () => {
    const t0 = performance.now();
    store.queryMetrics({ runIds: [big], keys: ["loss", "lr"], maxPoints: 1000 });
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe("bestAndFinal", () => {
  it("gives the last value and the best one with the step where it was first reached", () => {
    const acc = store.bestAndFinal(small, "testAccuracy");
    expect(acc.mode).toBe("max");
    expect(acc.count).toBe(3);
    expect(acc.final).toMatchObject({ step: 59, epoch: 2, epochsDone: 3 });
    expect(acc.best?.value).toBeCloseTo(0.7);
    expect(acc.best?.step).toBe(59);
    const loss = store.bestAndFinal(big, "loss");
    expect(loss.mode).toBe("min");
    expect(loss.best).toMatchObject({ value: -50, step: 777, epoch: 7, samples: 777 * 64 });
    expect(loss.final?.step).toBe(N - 1);
    expect(store.bestAndFinal(big, "loss", "max").best?.step).toBe(12_345);
    expect(store.bestAndFinal(big, "nope")).toMatchObject({ final: null, best: null, count: 0 });
  });
});
