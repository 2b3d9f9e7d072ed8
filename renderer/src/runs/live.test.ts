import { describe, expect, it } from "vitest";
import type { TrainEvent } from "../../../core/api/events";
import { appendStep, emptySeries, eventsAfter, fillGap, fromHistory, truncateFrom } from "./live";
import type { MetricSeries } from "./types";

function series(key: string, steps: number[], values: number[]): MetricSeries {
  return {
    runId: "r",
    key,
    x: "step",
    xs: steps,
    values,
    steps,
    total: steps.length,
    downsampled: false,
  };
}

describe("re-attaching to a running run", () => {
  const history = fromHistory([
    series("loss", [0, 1, 2, 3], [2.3, 2.1, 1.9, 1.8]),
    series("lr", [0, 1, 2, 3], [0.1, 0.1, 0.1, 0.1]),
    series("testAccuracy", [1], [0.6]),
  ]);

  it("builds the charts' series and the latest values from the history", () => {
    expect(history.series.loss.map((p) => p.x)).toEqual([0, 1, 2, 3]);
    expect(history.series.testAcc).toEqual([{ x: 2, y: 0.6 }]);
    expect(history.lastStep).toBe(3);
    expect(history.epochsDone).toBe(1);
    expect(history.latest).toMatchObject({ step: 3, loss: 1.8, lr: 0.1 });
    expect(history.lastTestAccuracy).toBe(0.6);
  });

  it("keeps only the live events the history does not hold", () => {
    const step = (s: number): TrainEvent => ({
      type: "step",
      step: s,
      epoch: 1,
      loss: 1,
      lr: 0.1,
      batchSize: 32,
      delta: 0.01,
      deltaMethod: "relative",
      gradNorm: 1,
      samples: 32 * (s + 1),
      throughput: 100,
    });
    const epoch = (e: number): TrainEvent => ({
      type: "epoch",
      epoch: e,
      trainLoss: 1,
      trainAccuracy: 0.5,
      testLoss: 1,
      testAccuracy: 0.5,
      wallTime: 1,
      noiseC: null,
      tensors: 1,
    });
    const kept = eventsAfter([step(3), step(4), epoch(0), epoch(1)], history);
    expect(
      kept.map((e) => (e.type === "step" ? `s${e.step}` : `e${(e as { epoch: number }).epoch}`)),
    ).toEqual(["s4", "e1"]);
    const s = emptySeries();
    appendStep(s, step(4) as Extract<TrainEvent, { type: "step" }>);
    expect(s.gradNorm).toEqual([{ x: 4, y: 1 }]);
    expect(s.throughput).toEqual([{ x: 4, y: 100 }]);
  });
});

describe("keeping the live series whole", () => {
  it("a resume drops the steps trained again but keeps the last kept epoch's accuracy", () => {
    const s = emptySeries();
    s.loss.push({ x: 0, y: 1 }, { x: 1, y: 1 }, { x: 2, y: 1 }, { x: 3, y: 1 });
    s.testAcc.push({ x: 2, y: 0.5 });
    truncateFrom(s, 2);
    expect(s.loss.map((p) => p.x)).toEqual([0, 1]);
    expect(s.testAcc).toEqual([{ x: 2, y: 0.5 }]);
  });

  it("the steps missed while re-attaching come from the library", () => {
    const s = emptySeries();
    s.loss.push({ x: 0, y: 1 }, { x: 1, y: 1 }, { x: 5, y: 2 }, { x: 6, y: 2 });
    const fresh = emptySeries();
    for (let x = 0; x < 6; x++) fresh.loss.push({ x, y: 1 });
    fresh.testAcc.push({ x: 3, y: 0.7 });
    fillGap(s, fresh, 5);
    expect(s.loss.map((p) => p.x)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(s.loss.at(-1)?.y).toBe(2);
    expect(s.testAcc).toEqual([{ x: 3, y: 0.7 }]);
  });
});

describe("delta: scheduled and measured", () => {
  const step = (s: number, over: Partial<Extract<TrainEvent, { type: "step" }>> = {}) =>
    ({
      type: "step",
      step: s,
      epoch: 0,
      loss: 1,
      lr: 0.1,
      batchSize: 100,
      delta: 1,
      deltaMethod: "relative",
      deltaScheduled: 1,
      gradNorm: 1,
      samples: 100 * (s + 1),
      throughput: 100,
      ...over,
    }) as Extract<TrainEvent, { type: "step" }>;

  it("live: the measured series holds measurements only, C's re-estimations are marked", () => {
    const s = emptySeries();
    appendStep(s, step(0)); // no estimate of C yet: delta is delta/delta0
    appendStep(
      s,
      step(1, { deltaMethod: "two-batch-estimate", delta: 0.02, noiseC: 2, noiseUpdated: true }),
    );
    appendStep(s, step(2, { deltaMethod: "two-batch-estimate", delta: 0.02, noiseC: 2 }));
    appendStep(
      s,
      step(3, { deltaMethod: "two-batch-estimate", delta: 0.015, noiseC: 1.5, noiseUpdated: true }),
    );
    expect(s.deltaScheduled.map((p) => p.y)).toEqual([1, 1, 1, 1]);
    expect(s.delta).toEqual([
      { x: 1, y: 0.02 },
      { x: 2, y: 0.02 },
      { x: 3, y: 0.015 },
    ]);
    expect(s.cUpdates).toEqual([
      { x: 1, y: 0.02, c: 2 },
      { x: 3, y: 0.015, c: 1.5 },
    ]);
  });

  it("from history: delta before C's first estimate is left out, the re-estimations are marked at the measured delta", () => {
    const h = fromHistory([
      series("delta", [0, 1, 2, 3], [1, 0.02, 0.02, 0.015]),
      series("deltaScheduled", [0, 1, 2, 3], [1, 1, 1, 1]),
      series("noiseCUpdate", [1, 3], [2, 1.5]),
    ]);
    expect(h.series.delta.map((p) => p.x)).toEqual([1, 2, 3]);
    expect(h.series.deltaScheduled).toHaveLength(4);
    expect(h.series.cUpdates).toEqual([
      { x: 1, y: 0.02, c: 2 },
      { x: 3, y: 0.015, c: 1.5 },
    ]);
    expect(h.latest).toMatchObject({ noiseC: 1.5, deltaMethod: "two-batch-estimate" });
  });

  it("runs recorded before the scheduled delta existed keep their delta as recorded", () => {
    const s = emptySeries();
    const old = step(0, { delta: 0.5 });
    delete old.deltaScheduled;
    appendStep(s, old);
    expect(s.delta).toEqual([{ x: 0, y: 0.5 }]);
    expect(fromHistory([series("delta", [0, 1], [1, 0.9])]).series.delta).toHaveLength(2);
  });
});
