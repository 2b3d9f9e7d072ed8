// The service contract: validation of every payload, structured errors, and the non-run methods.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ServiceError } from "./contract.js";
import { minMaxDownsample } from "./schedules.js";
import { Service } from "./service.js";

const service = () => new Service({ home: mkdtempSync(join(tmpdir(), "svc-")) });

async function errorOf(p: Promise<unknown>): Promise<ServiceError> {
  const e = await p.then(
    () => {
      throw new Error("expected a ServiceError");
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ServiceError);
  return e as ServiceError;
}

describe("Service.call", () => {
  it("refuses unknown methods and bad payloads with code, message and field", async () => {
    const s = service();
    expect((await errorOf(s.call("schedules.nope", {}))).code).toBe("unknown-method");
    expect((await errorOf(s.call("__proto__", {}))).code).toBe("unknown-method");
    const bad = await errorOf(s.call("schedules.preview", { schedule: "cosine", datasetSize: -5 }));
    expect(bad.toJSON()).toMatchObject({ code: "invalid-params", field: "datasetSize" });
    const extra = await errorOf(s.call("schedules.presets", { evil: 1 }));
    expect(extra.message).toMatch(/unknown field evil/);
    const schedule = await errorOf(
      s.call("schedules.preview", {
        schedule: { version: 1, epochs: 3, lr: { kind: "step", lr: -1 } },
      }),
    );
    expect(schedule.code).toBe("invalid-schedule");
    expect(schedule.field).toMatch(/^schedule\./);
  });

  it("previews a preset with series downsampled to the point budget", async () => {
    const p = await service().call("schedules.preview", {
      schedule: "paper-hybrid",
      maxPoints: 500,
    });
    expect(p.epochs).toHaveLength(200);
    expect(p.totals.updates).toBe(40_800);
    expect(p.steps.lr.x.length).toBeLessThanOrEqual(501);
    expect(p.steps.batchSize.y.at(-1)).toBe(648);
    expect(Math.max(...p.steps.lr.y)).toBe(0.1);
    expect(p.steps.samples.y.at(-1)).toBe(200 * 50_000);
  });

  it("validates, lists presets and exports PyTorch code", async () => {
    const s = service();
    expect(
      await s.call("schedules.validate", { schedule: { version: 1, epochs: 0 } }),
    ).toMatchObject({ ok: false });
    expect((await s.call("schedules.presets", {})).map((p) => p.name)).toContain("paper-hybrid");
    const exported = await s.call("schedules.export", {
      schedule: "paper-lr-decay",
      to: "pytorch",
    });
    expect(exported.filename).toBe("paper-lr-decay.py");
    expect(exported.code).toMatch(/StepLR/);
  });

  it("keeps settings, refusing unknown keys and bad values", async () => {
    const home = mkdtempSync(join(tmpdir(), "svc-settings-"));
    const s = new Service({ home });
    expect((await s.call("system.settings.get", {})).backend).toBe("auto");
    await s.call("system.settings.set", { settings: { backend: "wasm", model: "cnn" } });
    expect(await new Service({ home }).call("system.settings.get", {})).toMatchObject({
      backend: "wasm",
      model: "cnn",
    });
    expect(
      (await errorOf(s.call("system.settings.set", { settings: { colour: "red" } }))).field,
    ).toBe("settings.colour");
    expect(
      (await errorOf(s.call("system.settings.set", { settings: { backend: "cuda" } }))).field,
    ).toBe("settings.backend");
  });

  it("lists datasets: the embedded default always, others where found", async () => {
    const list = await service().call("datasets.list", {});
    expect(list[0]).toMatchObject({ name: "default", available: true });
    const cifar = list.find((d) => d.name === "cifar10");
    expect(cifar?.available === true || /cifar-10-binary/.test(cifar?.hint ?? "")).toBe(true);
  });

  it("run methods report that the library is missing when the host has none", async () => {
    expect((await errorOf(service().call("runs.list", {}))).message).toMatch(
      /run library is not available/,
    );
  });
});

describe("minMaxDownsample", () => {
  it("keeps every bucket's extremes, in order, and the last point", () => {
    const y = Array.from({ length: 10_000 }, (_, i) => Math.sin(i / 50));
    y[4321] = 7; // a spike must survive
    y[777] = -9;
    const s = minMaxDownsample(y, 200);
    expect(s.x.length).toBeLessThanOrEqual(201);
    expect(s.y).toContain(7);
    expect(s.y).toContain(-9);
    expect(s.x.at(-1)).toBe(9_999);
    for (let i = 1; i < s.x.length; i++)
      expect(s.x[i] as number).toBeGreaterThan(s.x[i - 1] as number);
    expect(minMaxDownsample([1, 2, 3], 10)).toEqual({ x: [0, 1, 2], y: [1, 2, 3] });
  });
});
