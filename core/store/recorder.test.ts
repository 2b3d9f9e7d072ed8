// RunRecorder: training events become metric rows in batched transactions, and statuses.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { syntheticRun, testSpec, writeTestCheckpoint } from "./fixtures.js";
import { libraryPaths } from "./paths.js";
import { libraryInternals, RunStore } from "./store.js";

let home = "";
let store: RunStore;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "recorder-"));
  store = RunStore.open(home);
});
afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

const count = (s: RunStore, where = "1") =>
  (
    libraryInternals(s)
      .db.prepare(`SELECT count(*) AS n FROM metric_values WHERE ${where}`)
      .get() as { n: number }
  ).n;

const quiet = { flushMs: 0, heartbeatMs: 0 };

describe("RunRecorder", () => {
  it("records every step and epoch metric, the summary and the final state", () => {
    const run = store.createRun(testSpec());
    const rec = store.recorder(run.id, quiet);
    for (const e of syntheticRun({ epochs: 3, stepsPerEpoch: 20 })) rec.record(e);
    rec.close();
    // 60 steps x 6 keys; epochs: 5 keys, +noiseC from epoch 1 on.
    expect(count(store)).toBe(60 * 6 + 5 + 6 + 6);
    expect(store.metricKeys(run.id).map((k) => k.key)).toEqual([
      "batchSize",
      "delta",
      "gradNorm",
      "loss",
      "lr",
      "noiseC",
      "tensors",
      "testAccuracy",
      "testLoss",
      "throughput",
      "trainAccuracy",
      "trainLoss",
    ]);
    const after = store.getRun(run.id);
    expect(after.status).toBe("completed");
    expect(after.plannedEpochs).toBe(3);
    expect(after.plannedSteps).toBe(60);
    expect(after.lastStep).toBe(59);
    expect(after.lastEpoch).toBe(2);
    expect(after.samples).toBe(60 * 32);
    expect(after.final.testAccuracy).toBeCloseTo(0.7);
    expect(after.best).toEqual({ testAccuracy: expect.closeTo(0.7), epoch: 2 });
    expect(after.backend).toBe("cpu");
    expect(after.environment).toMatchObject({
      backendSummary: "cpu (synthetic)",
      modelParameters: 1000,
    });
    expect(after.finishedAt).not.toBeNull();

    const loss = libraryInternals(store)
      .db.prepare(
        "SELECT step, epoch, epochs_done AS d, samples FROM metric_values WHERE key = 'loss' ORDER BY step",
      )
      .all() as { step: number; epoch: number; d: number; samples: number }[];
    expect(loss).toHaveLength(60);
    expect(loss[0]).toEqual({ step: 0, epoch: 0, d: 1 / 20, samples: 32 });
    expect(loss[19]).toMatchObject({ step: 19, epoch: 0, d: 1 });
    expect(loss[20]).toMatchObject({ step: 20, epoch: 1, d: 1 + 1 / 20 });
    const acc = libraryInternals(store)
      .db.prepare(
        "SELECT step, epoch, epochs_done AS d FROM metric_values WHERE key = 'testAccuracy'",
      )
      .all();
    expect(acc).toEqual([
      { step: 19, epoch: 0, d: 1 },
      { step: 39, epoch: 1, d: 2 },
      { step: 59, epoch: 2, d: 3 },
    ]);
    const walls = libraryInternals(store)
      .db.prepare("SELECT wall_time AS w FROM metric_values WHERE key = 'loss' ORDER BY step")
      .all() as { w: number }[];
    for (let i = 1; i < walls.length; i++)
      expect((walls[i] as { w: number }).w).toBeGreaterThanOrEqual(
        (walls[i - 1] as { w: number }).w,
      );
  });

  it("commits in batches of flushRows; other connections see only committed rows", () => {
    const run = store.createRun(testSpec());
    const flushes: number[] = [];
    const rec = store.recorder(run.id, {
      ...quiet,
      flushRows: 50,
      onFlush: (n) => flushes.push(n),
    });
    const reader = new Database(libraryPaths(home).db, { readonly: true });
    const seen = () =>
      (reader.prepare("SELECT count(*) AS n FROM metric_values").get() as { n: number }).n;
    const events = [...syntheticRun({ epochs: 1, stepsPerEpoch: 20, finish: "none" })];
    rec.record(events[0] as (typeof events)[number]); // start
    for (let i = 1; i <= 8; i++) rec.record(events[i] as (typeof events)[number]); // 8 steps = 48 rows
    expect(rec.pendingRows).toBe(48);
    expect(seen()).toBe(0);
    rec.record(events[9] as (typeof events)[number]); // 54 rows >= 50: flush
    expect(seen()).toBe(54);
    expect(flushes).toEqual([54]);
    rec.close();
    expect(rec.committedRows).toBe(54);
    reader.close();
  });

  it("flushes on a timer when rows wait longer than flushMs", async () => {
    const run = store.createRun(testSpec());
    const rec = store.recorder(run.id, { flushMs: 20, heartbeatMs: 0 });
    const events = syntheticRun({ epochs: 1, stepsPerEpoch: 3, finish: "none" });
    for (const e of events) {
      if (e.type === "epoch") break;
      rec.record(e);
    }
    expect(count(store)).toBe(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(count(store)).toBe(18);
    rec.close();
  });

  it("follows pause, resume, stop and error events", () => {
    const a = store.createRun(testSpec());
    const rec = store.recorder(a.id, quiet);
    const [start] = syntheticRun();
    rec.record(start as NonNullable<typeof start>);
    rec.record({ type: "paused", step: 3, epoch: 0 });
    expect(store.getRun(a.id).status).toBe("paused");
    rec.record({ type: "resumed", step: 3, epoch: 0 });
    expect(store.getRun(a.id).status).toBe("running");
    rec.record({ type: "stopping", step: 3, epoch: 0 });
    rec.record({
      type: "summary",
      status: "stopped",
      epochs: 3,
      steps: 3,
      testAccuracy: null,
      bestTestAccuracy: null,
      bestEpoch: null,
      wallTime: 1,
      checkpoint: null,
    });
    expect(store.getRun(a.id).status).toBe("stopped");
    rec.close();

    const b = store.createRun(testSpec());
    const rb = store.recorder(b.id, quiet);
    rb.record(start as NonNullable<typeof start>);
    rb.record({
      type: "error",
      code: "nan-loss",
      message: "the loss became NaN",
      step: 7,
      epoch: 0,
    });
    rb.fail({ message: "worker exited" }); // already failed: ignored
    rb.close();
    expect(store.getRun(b.id)).toMatchObject({
      status: "failed",
      error: { code: "nan-loss", message: "the loss became NaN", step: 7, epoch: 0 },
    });

    // A worker that dies before starting: queued -> failed.
    const c = store.createRun(testSpec());
    const rc = store.recorder(c.id, quiet);
    rc.fail({ code: "internal", message: "the training worker was killed by SIGKILL" });
    expect(store.getRun(c.id).status).toBe("failed");
    rc.close();
  });

  it("refuses to restart a finished run", () => {
    const run = store.createRun(testSpec());
    const rec = store.recorder(run.id, quiet);
    for (const e of syntheticRun({ epochs: 1 })) rec.record(e);
    const [start] = syntheticRun();
    expect(() => rec.record(start as NonNullable<typeof start>)).toThrow(
      /cannot go from completed to running/,
    );
    rec.close();
  });

  it("a resumed run drops the cut-short epoch's rows and continues steps and wall time", () => {
    const run = store.createRun(testSpec());
    const dir = run.checkpointDir as string;
    let clock = 0;
    const first = store.recorder(run.id, { ...quiet, clock: () => clock });
    for (const e of syntheticRun({
      epochs: 4,
      stepsPerEpoch: 10,
      finish: "none",
      checkpointDir: dir,
    })) {
      clock += 100;
      if (e.type === "checkpoint") writeTestCheckpoint(dir, e.epoch, 0);
      // Crash in the middle of epoch 2 (its steps are recorded, no epoch end, no checkpoint).
      if (e.type === "step" && e.step === 25) break;
      first.record(e);
    }
    first.close();
    const wallBefore = libraryInternals(store)
      .db.prepare("SELECT max(wall_time) AS w FROM metric_values WHERE epoch < 2")
      .get() as { w: number };
    expect(count(store, "epoch = 2")).toBe(5 * 6);
    libraryInternals(store)
      .db.prepare("UPDATE runs SET owner_pid = 999999999 WHERE id = ?")
      .run(run.id);
    store.recoverInterrupted({ liveness: () => "dead" });
    expect(store.getRun(run.id).status).toBe("interrupted");
    expect(store.resumePoint(run.id)?.epoch).toBe(1);

    const second = store.recorder(run.id, { ...quiet, clock: () => clock });
    for (const e of syntheticRun({ epochs: 4, stepsPerEpoch: 10, startEpoch: 2 })) {
      clock += 100;
      second.record(e);
    }
    second.close();
    expect(store.getRun(run.id).status).toBe("completed");
    // The same rows as a run that never crashed: 40 steps x 6 + 5 + 6 + 6 + 6.
    expect(count(store)).toBe(40 * 6 + 23);
    expect(count(store, "key = 'loss' AND epoch = 2")).toBe(10);
    const firstResumed = libraryInternals(store)
      .db.prepare("SELECT wall_time AS w FROM metric_values WHERE key = 'loss' AND step = 20")
      .get() as { w: number };
    // Wall time goes on from the checkpoint: the time lost with the cut-short epoch is not counted.
    expect(firstResumed.w).toBeGreaterThan(wallBefore.w);
    const walls = libraryInternals(store)
      .db.prepare("SELECT wall_time AS w FROM metric_values WHERE key = 'loss' ORDER BY step")
      .all() as { w: number }[];
    expect(walls.map((r) => r.w)).toEqual(walls.map((r) => r.w).sort((a, b) => a - b));
  });

  it("log() records custom scalars; values that are not finite become NULL", () => {
    const run = store.createRun(testSpec());
    const rec = store.recorder(run.id, quiet);
    rec.log(
      { custom: 1.5, broken: Number.NaN, inf: Number.POSITIVE_INFINITY },
      { step: 3, epoch: 0 },
    );
    rec.close();
    const rows = libraryInternals(store)
      .db.prepare("SELECT key, value FROM metric_values ORDER BY key")
      .all() as {
      key: string;
      value: number | null;
    }[];
    expect(rows).toEqual([
      { key: "broken", value: null },
      { key: "custom", value: 1.5 },
      { key: "inf", value: null },
    ]);
  });
  it("records the scheduled delta every step, C where it was re-estimated, and each step's own wall time", () => {
    const run = store.createRun(testSpec());
    let now = 0;
    const rec = store.recorder(run.id, { ...quiet, clock: () => now });
    const events = [...syntheticRun({ epochs: 1, stepsPerEpoch: 10 })].map((e) => {
      if (e.type === "start") return { ...e, time: 5 };
      if (e.type !== "step") return e;
      const updated = e.step % 4 === 0;
      return {
        ...e,
        deltaScheduled: 1 - e.step / 100,
        noiseC: 2 + Math.floor(e.step / 4),
        noiseUpdated: updated,
        // The trainer's clock: the start at 5 s, then 0.5 s a step.
        time: 5 + 0.5 * (e.step + 1),
      };
    });
    for (const e of events) {
      // All the steps arrive together, 30 s after the start (one burst, as from a reporting window).
      if (e.type === "step") now = 30_000;
      rec.record(e);
    }
    rec.close();
    const rows = (key: string) =>
      libraryInternals(store)
        .db.prepare(
          "SELECT step, value, wall_time AS wall FROM metric_values WHERE key = ? ORDER BY step",
        )
        .all(key) as { step: number; value: number; wall: number }[];
    expect(rows("deltaScheduled").map((r) => r.value)).toEqual(
      Array.from({ length: 10 }, (_, s) => 1 - s / 100),
    );
    expect(rows("noiseCUpdate")).toMatchObject([
      { step: 0, value: 2 },
      { step: 4, value: 3 },
      { step: 8, value: 4 },
    ]);
    // Wall time per step from the step's own time, not the burst's arrival.
    expect(rows("loss").map((r) => r.wall)).toEqual(
      Array.from({ length: 10 }, (_, s) => 0.5 * (s + 1)),
    );
  });
});
