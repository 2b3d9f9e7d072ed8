// Sharpness where it runs: at the end of a run and every K epochs (the trainer, recorded by the
// library), and on demand for a finished run (runs.sharpness: a worker process at the run's checkpoint).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { serviceAt, sharpnessEvents } from "../../tests/support/service.js";
import type { SharpnessRecord } from "../api/sharpness.js";
import { startTraining } from "../engine/worker-client.js";
import { runMethods } from "./runs.js";
import { Service } from "./service.js";

const homes: string[] = [];
afterAll(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

const quick = { examples: 64, batchSize: 32, iterations: 4 };

const tiny = (over: Record<string, unknown> = {}) => ({
  dataset: "default",
  model: "mlp",
  backend: "cpu",
  seed: 1,
  trainLimit: 200,
  testLimit: 100,
  epochs: 2,
  schedule: "paper-hybrid",
  ...over,
});

describe("sharpness in runs", () => {
  it("at the end and every epoch: events in order, values recorded as metrics with their settings", async () => {
    const home = mkdtempSync(join(tmpdir(), "sharp-run-"));
    homes.push(home);
    const { service, events, finished } = serviceAt(home);
    const { id } = await service.call("runs.start", {
      spec: tiny({ sharpness: { ...quick, everyEpochs: 1 } }),
    });
    expect(await finished(id)).toBe("completed");
    const sh = sharpnessEvents(events, id);
    const withValues = sh.filter((e) => e.values);
    // Every epoch but the last: the one-step estimate; the end: every variant (one-step too).
    expect(withValues.map((e) => [e.epoch, e.when, e.values?.map((v) => v.key)])).toEqual([
      [0, "every", ["sharpnessOneStep"]],
      [1, "end", ["sharpness", "sharpnessL2", "sharpnessOneStep"]],
    ]);
    // Progress before the values, and the end's measurement before the summary.
    expect(sh.some((e) => !e.values && e.total > 0 && e.done < e.total)).toBe(true);
    const types = events
      .filter((e) => e.type === "run.event" && e.runId === id)
      .map((e) => (e as { event: TrainEvent }).event.type);
    expect(types.lastIndexOf("sharpness")).toBeLessThan(types.indexOf("summary"));

    const metrics = await service.call("runs.metrics", {
      ids: [id],
      keys: ["sharpness", "sharpnessL2", "sharpnessOneStep"],
      x: "epoch",
    });
    const by = (k: string) => metrics.find((m) => m.key === k);
    expect(by("sharpnessOneStep")?.xs).toEqual([1, 2]);
    expect(by("sharpness")?.xs).toEqual([2]);
    expect(by("sharpness")?.values[0]).toBeGreaterThan(0);
    expect(by("sharpnessL2")?.values[0]).toBeGreaterThan(0);

    const run = await service.call("runs.get", { id });
    expect(run.status).toBe("completed");
    const records = run.environment.sharpness as SharpnessRecord[];
    expect(records.map((r) => [r.key, r.epoch, r.when])).toEqual([
      ["sharpnessOneStep", 0, "every"],
      ["sharpness", 1, "end"],
      ["sharpnessL2", 1, "end"],
      ["sharpnessOneStep", 1, "end"],
    ]);
    expect(records[1]).toMatchObject({
      norm: "linf",
      adaptive: true,
      rho: 0.0002,
      iterations: 4,
      examples: 64,
      batchSize: 32,
      seed: 0,
      backend: "cpu",
    });
    expect(records[2]).toMatchObject({ norm: "l2", adaptive: false, rho: 0.05 });
    await service.close();
  });

  it("on demand for a finished run: a worker at its checkpoint, progress, metrics; the status stays", async () => {
    const home = mkdtempSync(join(tmpdir(), "sharp-demand-"));
    homes.push(home);
    const { service, events, finished } = serviceAt(home);
    const { id } = await service.call("runs.start", { spec: tiny() });
    expect(await finished(id)).toBe("completed");
    const before = await service.call("runs.get", { id });
    expect(before.keys.map((k) => k.key)).not.toContain("sharpness");

    const result = await service.call("runs.sharpness", {
      id,
      ...quick,
      rho: 0.001,
      variants: ["adaptive", "one-step"],
    });
    expect(result).toMatchObject({ id, epoch: 1, backend: "cpu" });
    expect(result.values.map((v) => [v.key, v.rho, v.iterations, v.examples])).toEqual([
      ["sharpness", 0.001, 4, 64],
      ["sharpnessOneStep", 0.001, 1, 64],
    ]);
    expect(result.values[0]?.value).toBeGreaterThan(0);
    const progress = sharpnessEvents(events, id).filter((e) => e.when === "on-demand");
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)?.values).toEqual(result.values);

    const after = await service.call("runs.get", { id });
    expect(after.status).toBe("completed");
    expect(after.finishedAt).toBe(before.finishedAt);
    expect(after.lastEpoch).toBe(before.lastEpoch);
    expect(after.final).toEqual(before.final);
    const m = await service.call("runs.metrics", { ids: [id], keys: ["sharpness"], x: "epoch" });
    expect(m[0]?.values).toEqual([result.values[0]?.value]);
    expect((after.environment.sharpness as SharpnessRecord[])[0]).toMatchObject({
      when: "on-demand",
      rho: 0.001,
      epoch: 1,
    });

    // Measuring again replaces the value at that point (and appends its settings).
    const again = await service.call("runs.sharpness", { id, ...quick, variants: ["adaptive"] });
    const m2 = await service.call("runs.metrics", { ids: [id], keys: ["sharpness"], x: "epoch" });
    expect(m2[0]?.values).toEqual([again.values[0]?.value]);
    expect(
      ((await service.call("runs.get", { id })).environment.sharpness as unknown[]).length,
    ).toBe(3);
    await service.close();
  });

  it("refuses runs without a checkpoint, unknown runs and bad settings", async () => {
    const home = mkdtempSync(join(tmpdir(), "sharp-refuse-"));
    homes.push(home);
    const service = new Service({
      home,
      runs: runMethods({ home, launch: startTraining, autoStart: false }),
    });
    const { id } = await service.call("runs.start", { spec: tiny() });
    await expect(service.call("runs.sharpness", { id })).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining("queued"),
    });
    await expect(service.call("runs.sharpness", { id: "no-such-run" })).rejects.toMatchObject({
      code: "not-found",
    });
    await expect(service.call("runs.sharpness", { id, rho: -1 })).rejects.toMatchObject({
      code: "invalid-params",
      field: "rho",
    });
    await expect(
      service.call("runs.sharpness", { id, variants: ["sideways"] }),
    ).rejects.toMatchObject({ code: "invalid-params" });
    await service.close();
  });
});
