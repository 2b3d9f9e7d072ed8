/**
 * Done 1 of the run-lifecycle issue: a stopped run resumed into the queue
 * (waiting behind another run) keeps its resume point when the host is
 * SIGKILLed; the restarted host continues it from its checkpoint, and no
 * metric row of the earlier attempt is deleted. (Before: the resume point was
 * kept in the host's memory, so after a restart the run trained again from
 * epoch 0 and its rows were deleted.)
 */
import { afterAll, describe, expect, it } from "vitest";
import type { ServiceEvent } from "../../core/api/contract.js";
import { look, rows, type ServeHost, serve, tempHome, tinySpec, until } from "./hosts.js";

const hosts: ServeHost[] = [];
afterAll(() => {
  for (const h of hosts) {
    h.client.close();
    h.kill("SIGKILL");
  }
});

const statusOf = (home: string, id: string) => look(home, (s) => s.getRun(id).status);
const seen = (h: ServeHost, pred: (e: ServiceEvent) => boolean) => h.events.some(pred);

describe("a resumed run waiting in the queue when the host is killed", () => {
  it("continues from its checkpoint after a restart, keeping every row of its earlier attempt", async () => {
    const home = tempHome("queued-resume-");
    const first = await serve(home);
    hosts.push(first);
    const r = await first.client.call("runs.start", { spec: tinySpec(11, 4) });
    await until(
      () =>
        seen(
          first,
          (e) =>
            e.type === "run.event" &&
            e.runId === r.id &&
            e.event.type === "checkpoint" &&
            e.event.epoch === 1,
        ),
      "the checkpoint of epoch 2",
    );
    await first.client.call("runs.stop", { id: r.id });
    await until(() => statusOf(home, r.id) === "stopped", "the run to stop");
    const before = rows(home, r.id).filter((x) => x.key !== "throughput");
    const resumeEpoch = look(home, (s) => s.getRun(r.id).resumeEpoch);
    expect(resumeEpoch).not.toBeNull();

    // A long run takes the host's one slot; the resumed run waits behind it.
    const q = await first.client.call("runs.start", { spec: tinySpec(12, 200) });
    await until(() => statusOf(home, q.id) === "running", "the long run to start");
    await first.client.call("runs.resume", { id: r.id });
    expect(statusOf(home, r.id)).toBe("queued");
    expect((await first.client.call("runs.queue", {})).queue).toEqual([r.id]);

    first.kill("SIGKILL");
    await first.exited;

    const second = await serve(home);
    hosts.push(second);
    // The long run's host is gone: it is interrupted; the queued run trains.
    await until(() => statusOf(home, q.id) === "interrupted", "the long run to be interrupted");
    await until(() => statusOf(home, r.id) === "completed", "the resumed run to complete", 90_000);
    const start = second.events.find(
      (e) => e.type === "run.event" && e.runId === r.id && e.event.type === "start",
    );
    expect(
      start?.type === "run.event" && start.event.type === "start" && start.event.startEpoch,
    ).toBe((resumeEpoch as number) + 1);
    // Every row of the first attempt is still there with its value (the resumed attempt
    // retrains only the steps after its checkpoint, on the same trajectory).
    const after = new Map(rows(home, r.id).map((x) => [`${x.key}@${x.step}`, x.value]));
    expect(before.length).toBeGreaterThan(20);
    for (const x of before)
      expect(after.get(`${x.key}@${x.step}`), `${x.key}@${x.step}`).toBe(x.value);
    const run = look(home, (s) => s.getRun(r.id));
    expect(run).toMatchObject({ status: "completed", lastEpoch: 3, attempt: 2 });
    const test = look(home, (s) => s.queryMetrics({ runIds: [r.id], keys: ["testAccuracy"] })[0]);
    expect(test?.steps).toHaveLength(4);
  });
});
