// The landscape methods through the service, as every host calls them.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ServiceError } from "../service/contract.js";
import { Service } from "../service/service.js";

const service = () => new Service({ home: mkdtempSync(join(tmpdir(), "svc-landscape-")) });

async function errorOf(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected a rejection");
}

describe("landscape.* through the service", () => {
  it("landscape.grid: f, then f_delta, as a 128 x 128 grid of numbers", async () => {
    const s = service();
    const f = await s.call("landscape.grid", { fn: "rastrigin" });
    expect(f.size).toBe(128);
    expect(f.values).toHaveLength(128 * 128);
    expect(f.method).toBe("exact");
    expect(f.kernel).toBe("ball");
    expect(f.fn).toMatchObject({ name: "rastrigin", minValue: 0, closedForm: true });
    expect(f.fn.domain).toEqual({ lo: -5.12, hi: 5.12 });
    expect(f.functions.map((x) => x.name)).toEqual([
      "rastrigin",
      "drop-wave",
      "ackley",
      "styblinski-tang",
      "himmelblau",
    ]);
    expect(f.min).toBeGreaterThanOrEqual(0);
    const smooth = await s.call("landscape.grid", {
      fn: "rastrigin",
      delta: 0.4,
      kernel: "gaussian",
    });
    expect(smooth.method).toBe("closed-form");
    // Smoothing flattens the ripples: a smaller range than f's.
    expect(smooth.max - smooth.min).toBeLessThan(f.max - f.min);
    const mc = await s.call("landscape.grid", { fn: "ackley", delta: 0.3, size: 32, samples: 64 });
    expect(mc).toMatchObject({ method: "monte-carlo", samples: 64, size: 32 });
    // The whole grid serialises as plain JSON numbers.
    expect(JSON.parse(JSON.stringify(mc.values))).toEqual(mc.values);
  });

  it("landscape.experiment: the default comparison, with intervals and trajectories", async () => {
    const s = service();
    const r = await s.call("landscape.experiment", { fn: "rastrigin", seeds: 50, trajectories: 5 });
    expect(r.schedules.map((x) => x.name)).toEqual([
      "paper-constant",
      "constant-final-delta",
      "paper-lr-decay",
      "paper-batch-growth",
      "paper-hybrid",
      "poly-delta-0.5",
      "poly-delta-1",
    ]);
    expect(r.info.name).toBe("rastrigin");
    expect(r.settings).toMatchObject({ seeds: 50, trajectories: 5, tolerance: 0.3, level: 0.95 });
    const first = r.schedules[0];
    expect(first?.trajectories).toHaveLength(5);
    expect(first?.success.lo).toBeLessThanOrEqual(first?.success.rate ?? -1);
    expect(first?.perEpoch.delta[0]).toBeCloseTo(0.4, 9);
  });

  it("landscape.experiment takes preset names and schedule documents", async () => {
    const s = service();
    const r = await s.call("landscape.experiment", {
      fn: "himmelblau",
      seeds: 10,
      schedules: [
        "paper-hybrid",
        {
          version: 1,
          name: "short",
          epochs: 5,
          lr: { kind: "constant", lr: 0.1 },
          batch: { kind: "constant", size: 128 },
        },
      ],
    });
    expect(r.schedules.map((x) => x.name)).toEqual(["paper-hybrid", "short"]);
    expect(r.schedules[1]?.updates).toBe(5 * 20);
  });

  it("refuses bad input with structured errors", async () => {
    const s = service();
    expect(await errorOf(s.call("landscape.grid", { fn: "rosenbrock" }))).toMatchObject({
      code: "invalid-params",
      field: "fn",
    });
    expect(await errorOf(s.call("landscape.grid", { fn: "ackley", delta: -1 }))).toMatchObject({
      code: "invalid-params",
      field: "delta",
    });
    expect(
      await errorOf(s.call("landscape.experiment", { fn: "ackley", schedules: ["nope"] })),
    ).toMatchObject({ code: "invalid-schedule", field: "schedules.0" });
    const bad = await errorOf(
      s.call("landscape.experiment", {
        fn: "ackley",
        schedules: [
          {
            version: 1,
            epochs: 0,
            lr: { kind: "constant", lr: 0.1 },
            batch: { kind: "constant", size: 1 },
          },
        ],
      }),
    );
    expect(bad.code).toBe("invalid-schedule");
    expect(bad.field).toMatch(/^schedules\.0\.epochs/);
    expect(
      await errorOf(
        s.call("landscape.grid", { fn: "ackley", delta: 0.3, size: 512, samples: 4096 }),
      ),
    ).toMatchObject({ code: "invalid-params", field: "samples" });
    const big = await errorOf(s.call("landscape.experiment", { fn: "rastrigin", seeds: 10_000 }));
    expect(big).toMatchObject({ code: "invalid-params", field: "seeds" });
    expect(big.message).toMatch(/fewer seeds/);
  });
});
