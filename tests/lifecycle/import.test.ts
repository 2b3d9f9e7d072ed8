/**
 * Done 9 of the run-lifecycle issue: runs exported while queued or training
 * in one home and imported (`sgd-studio runs import`) into another arrive
 * `interrupted` and never train by themselves: a `serve` host started on that
 * home leaves them as they are through its startup and two heartbeats
 * (attempt 0, no new metrics, no worker); only an explicit resume trains them,
 * from the beginning (their checkpoints stayed in the other home).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import {
  childPids,
  cli,
  look,
  type Proc,
  rows,
  serve,
  stepsPerEpoch,
  tempHome,
  tinySpec,
  until,
} from "./hosts.js";

/** The heartbeat of a host (RunManager's default), and a margin for a loaded machine. */
const HEARTBEAT_MS = 5_000;

const started: Proc[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("imported runs", () => {
  it("an exported running and queued run imported elsewhere stay interrupted until resumed", async () => {
    // Home A: one run training, one queued behind it; export both while so.
    const homeA = tempHome("import-from-");
    const hostA = await serve(homeA);
    started.push(hostA);
    await hostA.client.call("runs.list", {});
    const { id: running } = await hostA.client.call("runs.start", { spec: tinySpec(31, 3) });
    const { id: queued } = await hostA.client.call("runs.start", { spec: tinySpec(32, 2) });
    await until(
      () =>
        hostA.events.some(
          (e) => e.type === "run.event" && e.runId === running && e.event.type === "epoch",
        ),
      "the first epoch of the training run",
    );
    const exported = await hostA.client.call("runs.export", {
      ids: [running, queued],
      format: "json",
    });
    hostA.kill("SIGKILL");
    await hostA.exited;
    const doc = JSON.parse(exported.content) as {
      runs: { id: string; status: string; metrics: Record<string, { step: number[] }> }[];
    };
    expect(doc.runs.map((r) => [r.id, r.status])).toEqual([
      [running, "running"],
      [queued, "queued"],
    ]);
    const exportedRows = (id: string) =>
      Object.values(doc.runs.find((r) => r.id === id)?.metrics ?? {}).reduce(
        (n, m) => n + m.step.length,
        0,
      );
    expect(exportedRows(running)).toBeGreaterThan(0);
    expect(exportedRows(queued)).toBe(0);

    // Home B: import with the CLI.
    const homeB = tempHome("import-into-");
    const file = join(homeB, "export.json");
    writeFileSync(file, exported.content);
    const imp = cli(["runs", "import", file, "--home", homeB]);
    started.push(imp);
    expect((await imp.exited).code, imp.err()).toBe(0);
    expect(imp.out()).toContain(`imported ${running}`);
    expect(imp.out()).toContain(`imported ${queued}`);
    const expectUntouched = () => {
      for (const id of [running, queued]) {
        const run = look(homeB, (s) => s.getRun(id));
        expect(run.status, id).toBe("interrupted");
        expect(run.attempt, id).toBe(0);
        expect(run.error?.code, id).toBe("imported");
        expect(run.owner, id).toBeNull();
        expect(rows(homeB, id), id).toHaveLength(exportedRows(id));
      }
      expect(look(homeB, (s) => s.queuedRunIds())).toEqual([]);
    };
    expectUntouched();

    // A host on home B: its startup and two heartbeats leave them alone.
    const hostB = await serve(homeB);
    started.push(hostB);
    await hostB.client.call("runs.list", {});
    await sleep(2 * HEARTBEAT_MS + 1_500);
    expectUntouched();
    expect(childPids(hostB.pid)).toEqual([]); // no worker was ever started
    expect(hostB.events.filter((e) => e.type === "run.event")).toEqual([]);
    expect(hostB.events.filter((e) => e.type === "run.status")).toEqual([]);
    expect(await hostB.client.call("runs.queue", {})).toEqual({ queue: [] });

    // An explicit resume trains them, from the beginning, to completion.
    await hostB.client.call("runs.resume", { id: running });
    await hostB.client.call("runs.resume", { id: queued });
    const verdict = (id: string) =>
      hostB.events.find(
        (e) =>
          e.type === "run.status" &&
          e.runId === id &&
          ["completed", "failed", "stopped", "interrupted"].includes(e.status),
      ) as Extract<ServiceEvent, { type: "run.status" }> | undefined;
    await until(() => verdict(running) && verdict(queued), "both resumed runs to finish", 60_000);
    for (const [id, epochs] of [
      [running, 3],
      [queued, 2],
    ] as const) {
      expect(verdict(id)?.status, verdict(id)?.error).toBe("completed");
      const run = look(homeB, (s) => s.getRun(id));
      expect(run.status).toBe("completed");
      expect(run.attempt).toBe(1);
      expect(run.error).toBeNull();
      expect(run.lastEpoch).toBe(epochs - 1);
      const startEvents = hostB.events.filter(
        (e) => e.type === "run.event" && e.runId === id && e.event.type === "start",
      ) as Extract<ServiceEvent, { type: "run.event" }>[];
      expect(startEvents.map((e) => (e.event as { startEpoch: number }).startEpoch)).toEqual([0]);
      const perEpoch = stepsPerEpoch(homeB, id);
      expect([...perEpoch.keys()]).toEqual([...Array(epochs).keys()]);
      const steps = rows(homeB, id)
        .filter((r) => r.key === "loss")
        .map((r) => r.step);
      expect(steps).toEqual([...Array(run.plannedSteps as number).keys()]);
      expect(stepsPerEpoch(homeB, id, "testAccuracy").size).toBe(epochs);
    }
  });
});
