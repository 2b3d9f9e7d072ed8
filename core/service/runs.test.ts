// The run methods end to end: a real library, real training in worker processes, the queue.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startTraining } from "../engine/worker-client.js";
import type { ServiceEvent } from "./contract.js";
import { runMethods } from "./runs.js";
import { Service } from "./service.js";

const tiny = (seed: number) => ({
  dataset: "default",
  model: "mlp",
  backend: "cpu",
  seed,
  trainLimit: 300,
  testLimit: 100,
  epochs: 2,
  schedule: "paper-hybrid",
});

function serviceAt(home: string, autoStart = true) {
  const events: ServiceEvent[] = [];
  const service = new Service({
    home,
    runs: runMethods({ home, launch: startTraining, autoStart }),
  });
  service.on((e) => events.push(e));
  const statusOf = (id: string) =>
    new Promise<string>((resolve) => {
      service.on((e) => {
        if (
          e.type === "run.status" &&
          e.runId === id &&
          ["completed", "stopped", "failed"].includes(e.status)
        ) {
          resolve(e.status);
        }
      });
    });
  return { service, events, statusOf };
}

describe("runs through the service", () => {
  it("queues runs, trains one at a time, records metrics, exports and re-imports", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-runs-"));
    const { service, events, statusOf } = serviceAt(home);
    const a = await service.call("runs.start", { spec: tiny(1), name: "first" });
    const b = await service.call("runs.start", { spec: tiny(2) });
    // a is claimed (running) at once; b is next in the queue.
    expect(b.position).toBe(0);
    const [sa, sb] = await Promise.all([statusOf(a.id), statusOf(b.id)]);
    expect([sa, sb]).toEqual(["completed", "completed"]);
    // One at a time: b starts only after a's summary.
    const order = events
      .filter(
        (e) => e.type === "run.event" && (e.event.type === "start" || e.event.type === "summary"),
      )
      .map((e) =>
        e.type === "run.event" ? `${e.runId === a.id ? "a" : "b"}:${e.event.type}` : "",
      );
    expect(order).toEqual(["a:start", "a:summary", "b:start", "b:summary"]);

    const list = await service.call("runs.list", {});
    expect(list.map((r) => r.id).sort()).toEqual([a.id, b.id].sort());
    const got = await service.call("runs.get", { id: a.id });
    expect(got).toMatchObject({ status: "completed", name: "first", model: "mlp" });
    const metrics = (await service.call("runs.metrics", {
      ids: [a.id, b.id],
      keys: ["loss", "testAccuracy"],
    })) as {
      runId: string;
      key: string;
      values: number[];
    }[];
    expect(metrics.find((s) => s.runId === a.id && s.key === "testAccuracy")?.values).toHaveLength(
      2,
    );
    expect(
      metrics.find((s) => s.runId === b.id && s.key === "loss")?.values.length,
    ).toBeGreaterThan(3);

    await service.call("runs.tag", { id: a.id, tag: "baseline" });
    expect((await service.call("runs.list", { tag: "baseline" })).map((r) => r.id)).toEqual([a.id]);
    expect((await service.call("runs.list", { search: "first" })).map((r) => r.id)).toEqual([a.id]);

    const exported = await service.call("runs.export", { ids: [a.id], format: "json" });
    await expect(service.call("runs.import", { content: exported.content })).rejects.toMatchObject({
      code: "conflict",
    });
    const copy = await service.call("runs.import", {
      content: exported.content,
      duplicates: "copy",
    });
    expect(copy.imported).toHaveLength(1);
    await service.call("runs.delete", { id: a.id });
    await expect(service.call("runs.get", { id: a.id })).rejects.toMatchObject({
      code: "not-found",
    });
    await service.close();
  });

  it("the queue survives a restart; a stopped run resumes from its checkpoint", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-queue-"));
    const held = serviceAt(home, false);
    const r = await held.service.call("runs.start", { spec: { ...tiny(3), epochs: 3 } });
    expect((await held.service.call("runs.get", { id: r.id })).status).toBe("queued");
    await held.service.close();

    const { service, statusOf } = serviceAt(home);
    const stopped = statusOf(r.id);
    service.on((e) => {
      if (
        e.type === "run.event" &&
        e.runId === r.id &&
        e.event.type === "checkpoint" &&
        e.event.epoch === 0
      ) {
        void service.call("runs.stop", { id: r.id });
      }
    });
    expect(await stopped).toBe("stopped");
    expect((await service.call("runs.get", { id: r.id })).lastEpoch).toBe(0);
    const done = statusOf(r.id);
    await service.call("runs.resume", { id: r.id });
    expect(await done).toBe("completed");
    const run = await service.call("runs.get", { id: r.id });
    expect(run).toMatchObject({ status: "completed", lastEpoch: 2 });
    await service.close();
  });

  it("the queue can be reordered: runs train in the new order", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-order-"));
    const { service, events, statusOf } = serviceAt(home);
    const a = await service.call("runs.start", { spec: tiny(1) });
    const b = await service.call("runs.start", { spec: tiny(2) });
    const c = await service.call("runs.start", { spec: tiny(3) });
    const done = Promise.all([a, b, c].map((r) => statusOf(r.id)));
    // a trains; b and c wait, oldest first.
    expect((await service.call("runs.queue", {})).queue).toEqual([b.id, c.id]);
    expect((await service.call("runs.queue.move", { id: c.id, position: 0 })).queue).toEqual([
      c.id,
      b.id,
    ]);
    expect(events.at(-1)).toEqual({ type: "queue.changed", queue: [c.id, b.id] });
    // A position past the end puts the run last.
    expect((await service.call("runs.queue.move", { id: c.id, position: 9 })).queue).toEqual([
      b.id,
      c.id,
    ]);
    await service.call("runs.queue.move", { id: c.id, position: 0 });
    // Only queued runs move.
    await expect(service.call("runs.queue.move", { id: a.id, position: 0 })).rejects.toMatchObject({
      code: "conflict",
    });
    expect(await done).toEqual(["completed", "completed", "completed"]);
    const starts = events
      .filter((e) => e.type === "run.event" && e.event.type === "start")
      .map((e) => (e.type === "run.event" ? e.runId : ""));
    expect(starts).toEqual([a.id, c.id, b.id]);
    expect((await service.call("runs.queue", {})).queue).toEqual([]);
    await service.close();
  });

  it("the queue order the user set survives a restart", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-order-restart-"));
    const first = serviceAt(home, false);
    const [a, b, c] = await Promise.all(
      [1, 2, 3].map((seed) => first.service.call("runs.start", { spec: tiny(seed) })),
    );
    const ids = [a, b, c].map((r) => r?.id as string);
    const order = [ids[2], ids[0], ids[1]];
    expect(
      (await first.service.call("runs.queue.move", { id: ids[2] as string, position: 0 })).queue,
    ).toEqual(order);
    await first.service.close();
    const second = serviceAt(home, false);
    expect((await second.service.call("runs.queue", {})).queue).toEqual(order);
    await second.service.close();
  });

  it("refuses illegal requests with structured errors", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-bad-"));
    const { service } = serviceAt(home, false);
    await expect(service.call("runs.pause", { id: "nope" })).rejects.toMatchObject({
      code: "not-found",
    });
    await expect(
      service.call("runs.start", { spec: { ...tiny(1), schedule: "no-such-preset" } }),
    ).rejects.toMatchObject({
      code: "invalid-schedule",
    });
    const r = await service.call("runs.start", { spec: tiny(1) });
    await expect(service.call("runs.pause", { id: r.id })).rejects.toMatchObject({
      code: "conflict",
    });
    await service.call("runs.stop", { id: r.id });
    expect((await service.call("runs.get", { id: r.id })).status).toBe("stopped");
    // Without a checkpoint, resuming starts it again from the beginning (back in the queue).
    await service.call("runs.resume", { id: r.id });
    expect((await service.call("runs.get", { id: r.id })).status).toBe("queued");
    await expect(service.call("runs.resume", { id: r.id })).rejects.toMatchObject({
      code: "conflict",
    });
    // Only the command line may train "here"; the renderer's hosts queue.
    await expect(service.call("runs.start", { spec: tiny(1), here: true })).rejects.toThrow(
      /only available from the command line/,
    );
    await service.close();
  });
});
