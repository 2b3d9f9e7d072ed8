import { describe, expect, it } from "vitest";
import { TimeAxis } from "./axis";
import { latestOnly } from "./latest";
import { exact, seriesStats, short, toUnitSeries } from "./series";
import { persistDoc, restoreDoc, STARTER } from "./session";
import { estimateSeconds, type ThroughputRun, throughputFromRuns } from "./throughput";

describe("throughput from earlier runs", () => {
  const run = (over: Partial<ThroughputRun> & { id?: string }): ThroughputRun => ({
    status: "completed",
    model: "mlp",
    dataset: "default",
    samples: 1000,
    wallTime: 2,
    finishedAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
    ...over,
  });

  it("pools completed runs per model and dataset, newest first", () => {
    const t = throughputFromRuns([
      run({ id: "a", samples: 1000, wallTime: 2 }),
      run({ id: "b", samples: 3000, wallTime: 2, finishedAt: "2026-02-01T00:00:00Z" }),
      run({ id: "c", model: "cnn", samples: 100, wallTime: 1, finishedAt: "2026-03-01T00:00:00Z" }),
      run({ id: "d", status: "failed", samples: 1e9, wallTime: 1 }),
      run({ id: "e", samples: 0, wallTime: 5 }),
      run({ id: "f", wallTime: null }),
    ]);
    expect(t.map((x) => [x.key, x.runs, x.imagesPerSecond])).toEqual([
      ["cnn · default", 1, 100],
      ["mlp · default", 2, 1000],
    ]);
  });

  it("estimates seconds, or nothing without a throughput", () => {
    const [t] = throughputFromRuns([run({})]);
    expect(estimateSeconds(10_000, t)).toBe(20);
    expect(estimateSeconds(10_000, null)).toBeNull();
    expect(throughputFromRuns([])).toEqual([]);
  });
});

describe("series for the lanes", () => {
  const axis = new TimeAxis([
    { steps: 10, samples: 1000 },
    { steps: 5, samples: 2000 },
  ]);

  it("places steps on the chosen unit and extends to the end of the run", () => {
    const s = { x: [0, 5, 10, 14], y: [1, 1, 0.5, 0.5] };
    expect(toUnitSeries(s, axis, "steps")).toEqual([
      { x: 0, y: 1 },
      { x: 5, y: 1 },
      { x: 10, y: 0.5 },
      { x: 14, y: 0.5 },
      { x: 15, y: 0.5 },
    ]);
    expect(toUnitSeries(s, axis, "epochs").map((p) => p.x)).toEqual([0, 0.5, 1, 1.8, 2]);
    expect(toUnitSeries(s, axis, "samples").map((p) => p.x)).toEqual([0, 500, 1000, 1800, 2000]);
  });

  it("leaves out values a log axis cannot draw", () => {
    const s = { x: [0, 5, 10], y: [1, 0, 0.5] };
    expect(toUnitSeries(s, axis, "steps", true).map((p) => p.y)).toEqual([1, 0.5, 0.5]);
  });

  it("summarises what is drawn", () => {
    expect(seriesStats([])).toBeNull();
    expect(
      seriesStats([
        { x: 0, y: 2 },
        { x: 1, y: 5 },
        { x: 3, y: 1 },
      ]),
    ).toEqual({ n: 3, first: 2, last: 1, min: 1, max: 5, xMax: 3 });
  });

  it("formats numbers exactly or briefly", () => {
    expect(exact(0.1 * 3)).toBe("0.3");
    expect(exact(0.056249999999)).toBe("0.05625");
    expect(short(0.070710678)).toBe("0.07071");
    expect(short(1.5e-5)).toBe("1.500e-5");
    expect(short(null)).toBe("–");
  });
});

describe("latestOnly", () => {
  it("runs one job at a time, skips overtaken requests, delivers in order", async () => {
    const started: number[] = [];
    const results: number[] = [];
    const resolvers: (() => void)[] = [];
    const runner = latestOnly(
      (n: number) => {
        started.push(n);
        return new Promise<number>((resolve) => resolvers.push(() => resolve(n * 10)));
      },
      (r) => results.push(r),
      () => {},
    );
    runner.request(1);
    runner.request(2);
    runner.request(3);
    expect(runner.busy).toBe(true);
    expect(started).toEqual([1]);
    resolvers.shift()?.();
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual([1, 3]);
    resolvers.shift()?.();
    await new Promise((r) => setTimeout(r, 0));
    expect(results).toEqual([10, 30]);
    expect(runner.busy).toBe(false);
  });

  it("reports failures and carries on", async () => {
    const errors: unknown[] = [];
    const runner = latestOnly(
      (n: number) => (n < 0 ? Promise.reject(new Error("bad")) : Promise.resolve(n)),
      () => {},
      (e) => errors.push(e),
    );
    runner.request(-1);
    await new Promise((r) => setTimeout(r, 0));
    expect(errors).toHaveLength(1);
  });
});

describe("session storage", () => {
  it("keeps the document for the next visit and ignores what is not a schedule", () => {
    const map = new Map<string, string>();
    const store = {
      getItem: (k: string) => map.get(k) ?? null,
      setItem: (k: string, v: string) => void map.set(k, v),
    };
    expect(restoreDoc(store)).toBeNull();
    persistDoc(STARTER, store);
    expect(restoreDoc(store)).toEqual(STARTER);
    map.set("sgd-studio.designer.doc", "{not json");
    expect(restoreDoc(store)).toBeNull();
    map.set("sgd-studio.designer.doc", JSON.stringify({ version: 2, epochs: 1 }));
    expect(restoreDoc(store)).toBeNull();
    expect(restoreDoc(null)).toBeNull();
  });
});
