/**
 * Done 7 of the run-lifecycle issue: the training worker process SIGKILLed
 * mid-run (a real SIGKILL of the real child process of the host). The run is
 * `interrupted` (not failed) with an error that says the worker was killed by
 * SIGKILL and nothing else, and resuming it completes it from its last
 * checkpoint: every epoch's rows and testAccuracy, each step once, the epochs
 * before the checkpoint kept from the first attempt. Once in a `serve` host
 * (driven by a WebSocket client, like the renderer) and once in
 * `sgd-studio train` (which exits non-zero and prints the resume hint).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import type { TrainEvent } from "../../core/engine/events.js";
import { libraryInternals } from "../../core/store/store.js";
import {
  childPids,
  cli,
  look,
  type Proc,
  serve,
  stepsPerEpoch,
  tempHome,
  tinySpec,
  until,
} from "./hosts.js";

const EPOCHS = 4;
/** Batches of 16 over 300 images: ~19 steps an epoch, so a kill lands inside an epoch. */
const SCHEDULE = {
  version: 1,
  epochs: EPOCHS,
  lr: { kind: "constant", lr: 0.05 },
  batch: { kind: "constant", size: 16 },
};
const KILLED =
  "the training worker was killed by SIGKILL (by a user or the system, e.g. its out-of-memory killer)";

const started: Proc[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
});

/** The pids of a process's children (every thread's list in /proc). */
/** The one training worker of a host process (a child running core/engine/worker.js). */
function workerOf(hostPid: number): number {
  const workers = childPids(hostPid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("worker.js");
    } catch {
      return false;
    }
  });
  expect(workers).toHaveLength(1);
  return workers[0] as number;
}

interface MetricRow {
  key: string;
  step: number;
  epoch: number;
  value: number | null;
}

function metricRows(home: string, id: string): MetricRow[] {
  return look(
    home,
    (s) =>
      libraryInternals(s)
        .db.prepare(
          "SELECT key, step, epoch, value FROM metric_values WHERE run_id = ? ORDER BY key, step",
        )
        .all(id) as MetricRow[],
  );
}

/** A completed run of EPOCHS epochs: every epoch whole, each step once, testAccuracy per epoch. */
function expectCompleteRows(home: string, id: string): void {
  const perEpoch = stepsPerEpoch(home, id);
  expect([...perEpoch.keys()]).toEqual([...Array(EPOCHS).keys()]);
  const counts = [...perEpoch.values()];
  expect(new Set(counts).size).toBe(1); // every epoch has all its steps
  const steps = metricRows(home, id)
    .filter((r) => r.key === "loss")
    .map((r) => r.step);
  const total = counts.reduce((a, b) => a + b, 0);
  expect(steps).toEqual([...Array(total).keys()]); // steps 0..N-1, each once
  const acc = metricRows(home, id).filter((r) => r.key === "testAccuracy");
  expect(acc.map((r) => r.epoch)).toEqual([...Array(EPOCHS).keys()]);
  expect(acc.every((r) => typeof r.value === "number" && r.value >= 0 && r.value <= 1)).toBe(true);
}

/** Rows of the epochs before `epoch`: what a resume from its checkpoint must keep as they are. */
function rowsBefore(rows: MetricRow[], epoch: number): MetricRow[] {
  return rows.filter((r) => r.epoch < epoch);
}

describe("the training worker SIGKILLed mid-run", () => {
  it("in a serve host: the run is interrupted (killed by SIGKILL) and a resume completes it", async () => {
    const home = tempHome("worker-kill-serve-");
    const host = await serve(home);
    started.push(host);
    await host.client.call("runs.list", {}); // connected: no event is missed
    const { id } = await host.client.call("runs.start", {
      spec: tinySpec(7, EPOCHS, { schedule: SCHEDULE, noiseEvery: 0 }),
    });
    const trainEvents = () =>
      host.events
        .filter(
          (e): e is Extract<ServiceEvent, { type: "run.event" }> =>
            e.type === "run.event" && e.runId === id,
        )
        .map((e) => e.event);
    // After the first checkpoint, inside the next epoch: kill the worker.
    await until(
      () => {
        const ev = trainEvents();
        const cp = ev.findIndex((e) => e.type === "checkpoint");
        return cp >= 0 && ev.slice(cp).some((e) => e.type === "step");
      },
      "a step after the first checkpoint",
      60_000,
    );
    const worker = workerOf(host.pid);
    process.kill(worker, "SIGKILL");

    const verdict = await until(
      () =>
        host.events.find(
          (e) =>
            e.type === "run.status" &&
            e.runId === id &&
            !["running", "queued", "paused"].includes(e.status),
        ) as Extract<ServiceEvent, { type: "run.status" }> | undefined,
      "the run's verdict after the kill",
    );
    expect(verdict.status).toBe("interrupted");
    expect(verdict.error).toBe(KILLED);
    const cut = look(home, (s) => s.getRun(id));
    expect(cut.status).toBe("interrupted");
    expect(cut.error?.code).toBe("worker-exited");
    expect(cut.error?.message).toBe(KILLED); // no stderr noise, nothing else
    expect(cut.attempt).toBe(1);
    expect(cut.resumeEpoch).not.toBeNull();
    const resumeEpoch = cut.resumeEpoch as number;
    expect(resumeEpoch).toBeLessThan(EPOCHS - 1);
    // The kill landed inside an epoch after the checkpoint: rows of it exist, partial or not.
    const before = rowsBefore(metricRows(home, id), resumeEpoch + 1);
    expect(before.length).toBeGreaterThan(0);
    expect(host.child.exitCode).toBeNull(); // the host itself lives on

    await host.client.call("runs.resume", { id });
    const done = await until(
      () =>
        host.events.find(
          (e) =>
            e.type === "run.status" &&
            e.runId === id &&
            ["completed", "failed", "stopped"].includes(e.status),
        ) as Extract<ServiceEvent, { type: "run.status" }> | undefined,
      "the resumed run's verdict",
    );
    expect(done.status).toBe("completed");
    const run = look(home, (s) => s.getRun(id));
    expect(run.status).toBe("completed");
    expect(run.error).toBeNull();
    expect(run.attempt).toBe(2);
    expect(run.lastEpoch).toBe(EPOCHS - 1);
    const starts = trainEvents().filter(
      (e): e is Extract<TrainEvent, { type: "start" }> => e.type === "start",
    );
    expect(starts.map((s) => s.startEpoch)).toEqual([0, resumeEpoch + 1]);
    expectCompleteRows(home, id);
    // The epochs the checkpoint covers were not trained again: their rows are the first attempt's.
    expect(rowsBefore(metricRows(home, id), resumeEpoch + 1)).toEqual(before);
  });

  it("in sgd-studio train: exits non-zero with the resume hint; train --resume completes the run", async () => {
    const home = tempHome("worker-kill-train-");
    const scheduleFile = join(home, "schedule.json");
    writeFileSync(scheduleFile, JSON.stringify(SCHEDULE));
    const args = ["--home", home, "--json"];
    const train = cli([
      "train",
      ...args,
      "--backend",
      "cpu",
      "--train-limit",
      "300",
      "--schedule",
      scheduleFile,
      "--seed",
      "3",
    ]);
    started.push(train);
    const lines = (p: Proc) =>
      p
        .out()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    await until(
      () => {
        const ev = lines(train);
        const cp = ev.findIndex((e) => e.type === "checkpoint");
        return cp >= 0 && ev.slice(cp).some((e) => e.type === "step");
      },
      `a step after the first checkpoint (stderr: ${train.err()})`,
      60_000,
    );
    const id = lines(train).find((e) => e.type === "run")?.id as string;
    expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]+$/);
    process.kill(workerOf(train.pid), "SIGKILL");
    const exit = await train.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(train.err()).toContain(KILLED);
    expect(train.err()).toContain(`continue it with: sgd-studio train --resume ${id}`);
    const reported = lines(train).find((e) => e.type === "error");
    expect(reported).toMatchObject({ status: "interrupted", message: KILLED });

    const cut = look(home, (s) => s.getRun(id));
    expect(cut.status).toBe("interrupted");
    expect(cut.error?.message).toBe(KILLED);
    expect(cut.attempt).toBe(1);
    const resumeEpoch = cut.resumeEpoch as number;
    expect(resumeEpoch).toBeGreaterThanOrEqual(0);
    const before = rowsBefore(metricRows(home, id), resumeEpoch + 1);

    const again = cli(["train", "--resume", id, ...args]);
    started.push(again);
    const end = await again.exited;
    expect(end.code, again.err()).toBe(0);
    const starts = lines(again).filter((e) => e.type === "start");
    expect(starts.map((s) => s.startEpoch)).toEqual([resumeEpoch + 1]);
    const run = look(home, (s) => s.getRun(id));
    expect(run.status).toBe("completed");
    expect(run.attempt).toBe(2);
    expect(run.lastEpoch).toBe(EPOCHS - 1);
    expectCompleteRows(home, id);
    expect(rowsBefore(metricRows(home, id), resumeEpoch + 1)).toEqual(before);
  });
});
