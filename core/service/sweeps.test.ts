// Sweeps through the service: real library, real training in worker processes, the durable queue.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startTraining } from "../engine/worker-client.js";
import { libraryInternals } from "../store/store.js";
import { scheduleBatch, scheduleLr } from "../sweep/schedule-params.js";
import type { ServiceEvent } from "./contract.js";
import { runMethods } from "./runs.js";
import { Service } from "./service.js";
import { CANCELLED_TAG } from "./sweeps.js";

const base = {
  dataset: "default",
  model: "mlp",
  backend: "cpu",
  trainLimit: 300,
  testLimit: 100,
  epochs: 2,
  schedule: "paper-constant",
};

function serviceAt(home: string, options: { autoStart?: boolean; concurrency?: number } = {}) {
  const events: ServiceEvent[] = [];
  const service = new Service({
    home,
    runs: runMethods({ home, launch: startTraining, trusted: true, ...options }),
  });
  service.on((e) => events.push(e));
  return { service, events };
}

async function untilFinished(service: Service, id: string, ms = 240_000) {
  const t0 = Date.now();
  for (;;) {
    const s = await service.call("sweeps.get", { id });
    if (s.finished) return s;
    if (Date.now() - t0 > ms)
      throw new Error(`sweep ${id} not finished: ${JSON.stringify(s.counts)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("sweeps through the service", () => {
  it("a 3 lr x 2 batch x 2 seeds grid trains locally, 2 at a time: 12 completed runs, each once, axis values recorded", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-sweep-"));
    const { service, events } = serviceAt(home, { concurrency: 2 });
    try {
      const created = await service.call("sweeps.create", {
        spec: {
          version: 1,
          name: "grid",
          base,
          axes: { lr: [0.01, 0.05, 0.1], batchSize: [32, 64] },
          seeds: 2,
        },
      });
      expect(created.members).toBe(12);
      const done = await untilFinished(service, created.id);
      expect(done.counts.completed).toBe(12);
      expect(done.counts.total).toBe(12);
      expect(new Set(done.members.map((m) => m.key)).size).toBe(12);
      for (const m of done.members) {
        expect(m.attempt).toBe(1);
        expect(m.lr).toBe(m.values.lr);
        expect(m.batchSize).toBe(m.values.batchSize);
        expect([0, 1]).toContain(m.values.seed);
        expect(m.finalTestAccuracy).not.toBeNull();
        expect(m.epochsDone).toBe(2);
      }
      expect(done.epochsDone).toBe(24);
      // Never more than 2 at once: count running members from the status events.
      let running = 0;
      let most = 0;
      const state = new Map<string, string>();
      for (const e of events) {
        if (e.type !== "run.status") continue;
        const was = state.get(e.runId);
        if (e.status === "running" && was !== "running") running++;
        if (was === "running" && e.status !== "running") running--;
        state.set(e.runId, e.status);
        most = Math.max(most, running);
      }
      expect(most).toBe(2);
      // Each run's steps recorded once: no (run, key, step) twice, and every run has its steps.
      const db = libraryInternals(service.runManager()?.store as never).db;
      const dup = db
        .prepare(
          "SELECT count(*) AS n FROM (SELECT run_id, key, step FROM metric_values GROUP BY 1, 2, 3 HAVING count(*) > 1)",
        )
        .get() as { n: number };
      expect(dup.n).toBe(0);
      const list = await service.call("sweeps.list", {});
      expect(list[0]).toMatchObject({ id: created.id, finished: true, axes: ["lr", "batchSize"] });
    } finally {
      await service.close();
    }
  }, 300_000);

  it("pause holds members, cancelMember and cancel stop them, rerun queues them again in the same sweep, extend adds only new points", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-sweep-ctl-"));
    const { service } = serviceAt(home, { autoStart: false });
    try {
      const m = service.runManager();
      const store = m?.store as NonNullable<typeof m>["store"];
      const { id } = await service.call("sweeps.create", {
        spec: { version: 1, base, axes: { lr: [0.01, 0.1] }, seeds: [0, 1] },
      });
      expect(store.claimableRunIds()).toHaveLength(4);
      await service.call("sweeps.pause", { id });
      expect(store.claimableRunIds()).toHaveLength(0);
      expect((await service.call("sweeps.get", { id })).state).toBe("paused");
      await service.call("sweeps.resume", { id });
      expect(store.claimableRunIds()).toHaveLength(4);

      const first = (await service.call("sweeps.get", { id })).members[0]?.runId as string;
      await service.call("sweeps.cancelMember", { id, runId: first });
      expect(store.getRun(first)).toMatchObject({ status: "stopped", tags: [CANCELLED_TAG] });
      // A default rerun (failed, interrupted) leaves a cancelled member alone.
      expect((await service.call("sweeps.rerun", { id })).requeued).toEqual([]);

      const extended = await service.call("sweeps.extend", { id, axes: { lr: [0.1, 0.3] } });
      expect(extended.added).toHaveLength(2); // 0.3 x 2 seeds; 0.1 was there
      expect(extended.members).toBe(6);
      const again = await service.call("sweeps.extend", { id, axes: { lr: [0.3] }, seeds: [1, 2] });
      expect(again.added).toHaveLength(3); // seed 2 for 0.01, 0.1, 0.3
      await expect(
        service.call("sweeps.extend", { id, axes: { momentum: [0.9] } }),
      ).rejects.toMatchObject({
        code: "invalid-params",
        message: expect.stringContaining("has no axis momentum"),
      });

      const cancelled = await service.call("sweeps.cancel", { id });
      expect(cancelled.stopped).toHaveLength(8);
      const after = await service.call("sweeps.get", { id });
      expect(after).toMatchObject({ state: "cancelled", finished: true });
      expect(after.counts.stopped).toBe(9);
      await expect(service.call("sweeps.extend", { id, axes: { lr: [1] } })).rejects.toMatchObject({
        code: "conflict",
      });

      const rerun = await service.call("sweeps.rerun", {
        id,
        statuses: ["stopped"],
        includeCancelled: true,
      });
      expect(rerun.requeued).toHaveLength(9);
      const back = await service.call("sweeps.get", { id });
      expect(back.state).toBe("active");
      expect(back.counts.queued).toBe(9);
      expect(back.members.every((x) => !x.values || x.status === "queued")).toBe(true);
      expect((await service.call("sweeps.list", {})).length).toBe(1); // no new sweep

      // Bad documents name the field.
      await expect(
        service.call("sweeps.create", {
          spec: { version: 1, base, axes: { lr: { range: [0.1, 1] } } },
        }),
      ).rejects.toMatchObject({ code: "invalid-params", field: "spec.axes.lr" });
      expect(
        await service.call("sweeps.validate", {
          spec: { version: 1, base, axes: { lr: [0.1, 0.2] }, seeds: 3 },
        }),
      ).toEqual({
        ok: true,
        members: 6,
        needsNoise: false,
      });
    } finally {
      await service.close();
    }
  }, 60_000);

  it("sweeps delta directly: C estimated by a short run and recorded; each member's lr = delta * sqrt(b) / C", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-sweep-delta-"));
    const { service } = serviceAt(home, { autoStart: false });
    try {
      const { id, members } = await service.call("sweeps.create", {
        spec: {
          version: 1,
          base,
          axes: { delta: [0.01, 0.02, 0.04], batchSize: [16, 64] },
          delta: { estimate: { trainLimit: 512 } },
        },
      });
      expect(members).toBe(6);
      const s = await service.call("sweeps.get", { id });
      expect(s.noise).toMatchObject({ method: "direct-estimate", trainLimit: 512 });
      const C = s.noise?.c as number;
      expect(C).toBeGreaterThan(0);
      const store = service.runManager()?.store;
      for (const m of s.members) {
        const run = store?.getRun(m.runId);
        const lr = scheduleLr(run?.spec.schedule) as number;
        const b = scheduleBatch(run?.spec.schedule) as number;
        expect(b).toBe(m.values.batchSize);
        expect(lr).toBeCloseTo(((m.values.delta as number) * Math.sqrt(b)) / C, 10);
        expect(m.delta).toBeCloseTo(m.values.delta as number, 8);
      }
    } finally {
      await service.close();
    }
  }, 120_000);
});
