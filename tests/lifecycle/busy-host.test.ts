/**
 * Done 3 of the run-lifecycle issue: a host whose event loop is blocked for
 * 15 s while its worker finishes a 10-epoch run still records the run as
 * completed with every epoch. (Before: the worker closed its channel right
 * after its last message; the unread messages were dropped and the exit was
 * judged "exited before finishing".)
 */
import { describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import { startTraining } from "../../core/engine/worker-client.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";
import { look, stepsPerEpoch, tempHome, tinySpec, until } from "./hosts.js";

/** Blocks this thread (and so the event loop) for `ms`. */
function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe("a busy host", () => {
  it("a 10-epoch run that finishes while the host is blocked for 15 s is completed with every epoch", async () => {
    const home = tempHome("busy-host-");
    const service = new Service({ home, runs: runMethods({ home, launch: startTraining }) });
    const events: ServiceEvent[] = [];
    service.on((e) => events.push(e));
    // Small batches: 400 step events (~150 kB), more than an OS pipe holds while nobody reads it.
    const schedule = {
      version: 1,
      epochs: 10,
      lr: { kind: "constant", lr: 0.05 },
      batch: { kind: "constant", size: 8 },
    };
    const spec = tinySpec(5, 10, { schedule, trainLimit: 320, noiseEvery: 0 });
    const { id } = await service.call("runs.start", { spec });
    // Wait for the worker to start training, then block while it finishes.
    await until(
      () => events.some((e) => e.type === "run.event" && e.event.type === "step"),
      "the first step",
    );
    block(15_000);
    const final = await until(
      () =>
        events.find((e) => e.type === "run.status" && e.runId === id && e.status !== "running") as
          | Extract<ServiceEvent, { type: "run.status" }>
          | undefined,
      "the run's verdict",
    );
    expect(final.status).toBe("completed");
    expect(final.error).toBeUndefined();
    const run = look(home, (s) => s.getRun(id));
    expect(run.status).toBe("completed");
    expect(run.lastEpoch).toBe(9);
    const perEpoch = stepsPerEpoch(home, id);
    expect([...perEpoch.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(new Set(perEpoch.values()).size).toBe(1); // every epoch has all its steps
    expect(stepsPerEpoch(home, id, "testAccuracy").size).toBe(10);
    await service.close();
  });
});
