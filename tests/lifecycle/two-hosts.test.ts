/**
 * Done 2 of the run-lifecycle issue: two hosts on one home never train the
 * same run. Two `serve` processes started together on a home with two queued
 * runs, and a `serve` with queued runs next to a concurrent
 * `sgd-studio train`: every run is claimed once (attempt 1), completed, with
 * each step's rows once and its steps streamed by one host only, and the
 * queue is taken in its order.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import type { TrainEvent, TrainSpecInput } from "../../core/engine/events.js";
import { resolveSchedule } from "../../core/service/schedules.js";
import { libraryInternals, RunStore } from "../../core/store/store.js";
import {
  cli,
  look,
  type Proc,
  type ServeHost,
  serve,
  stepsPerEpoch,
  tempHome,
  tinySpec,
  until,
} from "./hosts.js";

const EPOCHS = 2;

const started: Proc[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
});

/** Queues runs in the library directly (no host knows of them), in this order. */
function queueRuns(home: string, seeds: number[]): string[] {
  const store = RunStore.open(home);
  try {
    return seeds.map((seed) => {
      const spec = tinySpec(seed, EPOCHS) as Record<string, unknown>;
      spec.schedule = resolveSchedule(spec.schedule);
      const run = store.createRun(spec as unknown as TrainSpecInput);
      expect(run.status).toBe("queued");
      return run.id;
    });
  } finally {
    store.close();
  }
}

/** The training events a host streamed, per run. */
function trainEvents(host: ServeHost): Map<string, TrainEvent[]> {
  const byRun = new Map<string, TrainEvent[]>();
  for (const e of host.events as ServiceEvent[]) {
    if (e.type !== "run.event") continue;
    byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e.event]);
  }
  return byRun;
}

function finished(home: string, ids: string[]): boolean {
  return look(home, (s) =>
    ids.every((id) =>
      ["completed", "failed", "stopped", "interrupted"].includes(s.getRun(id).status),
    ),
  );
}

/** Claimed once, completed, every epoch with all its steps, each step's row once. */
function expectTrainedOnce(home: string, id: string, epochs = EPOCHS): void {
  const run = look(home, (s) => s.getRun(id));
  expect(run.status, `${id}: ${run.error?.message}`).toBe("completed");
  expect(run.attempt).toBe(1);
  expect(run.lastEpoch).toBe(epochs - 1);
  const perEpoch = stepsPerEpoch(home, id);
  expect([...perEpoch.keys()]).toEqual([...Array(epochs).keys()]);
  const total = [...perEpoch.values()].reduce((a, b) => a + b, 0);
  expect(total).toBe(run.plannedSteps);
  const steps = look(
    home,
    (s) =>
      libraryInternals(s)
        .db.prepare(
          "SELECT step FROM metric_values WHERE run_id = ? AND key = 'loss' ORDER BY step",
        )
        .all(id) as { step: number }[],
  ).map((r) => r.step);
  expect(steps).toEqual([...Array(total).keys()]);
  expect(stepsPerEpoch(home, id, "testAccuracy").size).toBe(epochs);
}

/** The step numbers one host streamed for a run; each at most once. */
function stepsStreamed(events: TrainEvent[] | undefined): number[] {
  const steps = (events ?? []).flatMap((e) => (e.type === "step" ? [e.step] : []));
  expect(new Set(steps).size).toBe(steps.length);
  return steps;
}

describe("two hosts on one home", () => {
  it("two serve hosts started together on two queued runs train each run exactly once", async () => {
    const home = tempHome("two-serve-");
    const ids = queueRuns(home, [11, 12]);
    const hosts = await Promise.all([serve(home), serve(home)]);
    started.push(...hosts);
    await until(() => finished(home, ids), "both runs to finish", 90_000);

    for (const id of ids) expectTrainedOnce(home, id);
    const streamed = hosts.map(trainEvents);
    for (const id of ids) {
      // One host trained it: only that host streamed its steps (and its start).
      const trainers = streamed.filter((m) => stepsStreamed(m.get(id)).length > 0);
      expect(trainers, `hosts that streamed steps of ${id}`).toHaveLength(1);
      const starts = streamed.flatMap((m) => (m.get(id) ?? []).filter((e) => e.type === "start"));
      expect(starts.length).toBeLessThanOrEqual(1);
      // The steps of its last epoch (long after both clients connected) all came, once.
      const run = look(home, (s) => s.getRun(id));
      const steps = stepsStreamed(trainers[0]?.get(id));
      const last = run.plannedSteps as number;
      const lastEpoch = stepsPerEpoch(home, id).get(EPOCHS - 1) as number;
      for (let s = last - lastEpoch; s < last; s++) expect(steps).toContain(s);
    }
    // The queue was taken in its order: the first queued run was claimed first.
    const [first, second] = look(home, (s) => ids.map((id) => s.getRun(id)));
    expect(Date.parse(first?.startedAt as string)).toBeLessThanOrEqual(
      Date.parse(second?.startedAt as string),
    );
    // No host ever reported a run as running that another host trained.
    for (const [i, host] of hosts.entries()) {
      const running = new Set(
        host.events.flatMap((e) =>
          e.type === "run.status" && e.status === "running" ? [e.runId] : [],
        ),
      );
      for (const id of running)
        expect(stepsStreamed(streamed[i]?.get(id)).length).toBeGreaterThan(0);
    }
  });

  it("a serve host with queued runs and a concurrent sgd-studio train train every run exactly once", async () => {
    const home = tempHome("serve-and-train-");
    // train's run is short (one small epoch): it ends while runs still wait in the queue,
    // which train must leave to the serve host.
    const queued = queueRuns(home, [21, 22, 24]);
    const [host, train] = await Promise.all([
      serve(home),
      cli([
        "train",
        "--home",
        home,
        "--json",
        "--backend",
        "cpu",
        "--train-limit",
        "100",
        "--epochs",
        "1",
        "--seed",
        "23",
      ]),
    ]);
    started.push(host, train);
    const exit = await train.exited;
    expect(exit.code, train.err()).toBe(0);
    const lines = train
      .out()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { type: string; id?: string; step?: number });
    const own = lines.find((e) => e.type === "run")?.id as string;
    expect(own).toBeTruthy();
    expect(queued).not.toContain(own);
    // train trained its own run only: one start, its steps once each.
    expect(lines.filter((e) => e.type === "start")).toHaveLength(1);
    const trainSteps = lines.flatMap((e) => (e.type === "step" ? [e.step] : []));
    expect(new Set(trainSteps).size).toBe(trainSteps.length);

    await until(() => finished(home, queued), "the queued runs to finish", 90_000);
    for (const id of queued) expectTrainedOnce(home, id);
    expectTrainedOnce(home, own, 1);
    expect(trainSteps).toHaveLength(look(home, (s) => s.getRun(own).plannedSteps) as number);

    // The serve host trained the queued runs, in queue order, one after the other, and not train's.
    const streamed = trainEvents(host);
    expect(streamed.has(own)).toBe(false);
    for (const id of queued) expect(stepsStreamed(streamed.get(id)).length).toBeGreaterThan(0);
    const runs = look(home, (s) => queued.map((id) => s.getRun(id)));
    for (let i = 1; i < runs.length; i++)
      expect(Date.parse(runs[i]?.startedAt as string)).toBeGreaterThanOrEqual(
        Date.parse(runs[i - 1]?.finishedAt as string),
      );
    // The window this checks: train's run ended while the last queued run still waited.
    const ownEnd = Date.parse(look(home, (s) => s.getRun(own).finishedAt) as string);
    expect(ownEnd).toBeLessThan(Date.parse(runs[runs.length - 1]?.startedAt as string));
    const order = [
      ...new Set(host.events.flatMap((e) => (e.type === "run.event" ? [e.runId] : []))),
    ];
    expect(order).toEqual(queued);
  });
});
