// Sweep documents: validation messages, deterministic expansion, stable keys, delta swept directly.
import { describe, expect, it } from "vitest";
import { parseSweepSpec, SweepSpecError } from "../api/sweep.js";
import { axisValues, expandSweep, memberKey } from "./expand.js";
import { evaluate, parseExpression } from "./expression.js";
import { scheduleBatch, scheduleLr } from "./schedule-params.js";
import { SWEEP_TEMPLATES } from "./templates.js";

const base = { dataset: "default", model: "mlp", schedule: "paper-constant", epochs: 2 };

function issues(input: unknown): { path: string; message: string }[] {
  try {
    expandSweep(input, { noise: 1 });
  } catch (err) {
    if (err instanceof SweepSpecError) return err.issues;
    throw err;
  }
  throw new Error("expected the sweep to be refused");
}

describe("sweep documents", () => {
  it("names the field and the fix for each mistake", () => {
    expect(issues({ version: 2, base, axes: {} })[0]).toMatchObject({
      path: "version",
      message: expect.stringContaining('set "version": 1'),
    });
    expect(issues({ version: 1, base, axes: { lr: [] } })[0]?.path).toBe("axes.lr");
    expect(
      issues({ version: 1, base, axes: { lr: { range: [1, 0.1], count: 3 } } })[0],
    ).toMatchObject({
      path: "axes.lr.range",
      message: expect.stringContaining("swap"),
    });
    expect(issues({ version: 1, base, axes: { lr: { range: [0.1, 1] } } })[0]?.message).toMatch(
      /exactly one of "count".*"step"/,
    );
    expect(issues({ version: 1, base, axes: { lrr: [0.1] } })[0]).toMatchObject({
      path: "axes.lrr",
      message: expect.stringContaining("unknown axis"),
    });
    expect(issues({ version: 1, base, axes: { seed: [1, 2] } })[0]?.message).toContain('"seeds"');
    expect(issues({ version: 1, base, method: "random", axes: {} })[0]).toMatchObject({
      path: "count",
    });
    expect(
      issues({ version: 1, base, axes: { lr: { random: "uniform", min: 0, max: 1 } } })[0]?.message,
    ).toContain('"method": "random"');
    expect(
      issues({ version: 1, base, axes: { lr: [0.1] }, constraints: ["lr <"] })[0],
    ).toMatchObject({
      path: "constraints[0]",
    });
    expect(
      issues({ version: 1, base, axes: { lr: [0.1] }, constraints: ["lrate < 1"] })[0]?.message,
    ).toContain('unknown name "lrate"');
    expect(issues({ version: 1, base, axes: { delta: [0.1], lr: [0.1] } })[0]).toMatchObject({
      path: "axes.lr",
    });
    expect(issues({ version: 1, base, axes: {}, extra: 1 })[0]).toMatchObject({
      path: "extra",
      message: expect.stringContaining("unknown field"),
    });
    // A value the run spec refuses is reported at its axis.
    expect(issues({ version: 1, base, axes: { epochs: [2, -1] } })[0]).toMatchObject({
      path: "axes.epochs",
      value: -1,
    });
    expect(issues({ version: 1, base, axes: { batchSize: [32.5] } })[0]).toMatchObject({
      path: "axes.batchSize",
    });
    expect(
      issues({ version: 1, base, axes: { schedule: ["no-such-preset"] } })[0]?.message,
    ).toContain("paper-hybrid");
  });
});

describe("expansion", () => {
  const grid = {
    version: 1,
    base,
    axes: { lr: [0.01, 0.1, 0.3], batchSize: [32, 64] },
    seeds: 2,
  };

  it("makes every grid point once per seed, deterministically, with stable keys", () => {
    const a = expandSweep(grid);
    expect(a).toHaveLength(12);
    expect(new Set(a.map((m) => m.key)).size).toBe(12);
    expect(expandSweep(structuredClone(grid)).map((m) => m.key)).toEqual(a.map((m) => m.key));
    // Axis order in the document does not change a member's key.
    const swapped = expandSweep({ ...grid, axes: { batchSize: [32, 64], lr: [0.01, 0.1, 0.3] } });
    expect(new Set(swapped.map((m) => m.key))).toEqual(new Set(a.map((m) => m.key)));
    const m = a.find(
      (x) => x.values.lr === 0.1 && x.values.batchSize === 64 && x.values.seed === 1,
    );
    expect(m?.spec.seed).toBe(1);
    expect(scheduleLr(m?.spec.schedule)).toBe(0.1);
    expect(scheduleBatch(m?.spec.schedule)).toBe(64);
    expect(m?.key).toBe(memberKey({ lr: 0.1, batchSize: 64, seed: 1 }));
  });

  it("adding values keeps the existing members' keys (what extend relies on)", () => {
    const before = new Set(expandSweep(grid).map((m) => m.key));
    const after = expandSweep({ ...grid, axes: { ...grid.axes, lr: [0.01, 0.1, 0.3, 1] } });
    expect(after).toHaveLength(16);
    expect(after.filter((m) => !before.has(m.key)).map((m) => m.values.lr)).toEqual([1, 1, 1, 1]);
  });

  it("ranges: linear and log, by count or step, integers deduplicated", () => {
    expect(axisValues({ range: [0.001, 1], count: 4, scale: "log", integer: false }, "x")).toEqual([
      0.001, 0.01, 0.1, 1,
    ]);
    expect(
      axisValues({ range: [0.1, 0.5], step: 0.1, scale: "linear", integer: false }, "x"),
    ).toEqual([0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(axisValues({ range: [16, 256], step: 2, scale: "log", integer: true }, "x")).toEqual([
      16, 32, 64, 128, 256,
    ]);
    expect(axisValues({ range: [1, 2], count: 5, scale: "linear", integer: true }, "x")).toEqual([
      1, 2,
    ]);
  });

  it("sweeps any field: schedule family and its parameters, optimizer, model, epochs", () => {
    const members = expandSweep({
      version: 1,
      base,
      axes: {
        schedule: ["paper-lr-decay", "paper-hybrid"],
        "schedule.lr.gamma": [0.5, 0.9],
        "optimizer.kind": ["sgd", "momentum"],
        model: ["mlp"],
        epochs: [1, 3],
      },
    });
    expect(members).toHaveLength(16);
    const m = members.find(
      (x) =>
        x.values.schedule === "paper-hybrid" &&
        x.values["schedule.lr.gamma"] === 0.5 &&
        x.values["optimizer.kind"] === "momentum",
    );
    expect((m?.spec.schedule as { name: string; lr: { gamma: number } }).lr.gamma).toBe(0.5);
    expect((m?.spec.schedule as { name: string }).name).toBe("paper-hybrid");
    expect((m?.spec.optimizer as { kind: string }).kind).toBe("momentum");
  });

  it("constraints drop members; random draws are seeded and repeatable; more draws keep the first", () => {
    const constrained = expandSweep({
      ...grid,
      constraints: ["lr / sqrt(batchSize) <= 0.02 && seed == 0"],
    });
    expect(constrained.map((m) => [m.values.lr, m.values.batchSize])).toEqual([
      [0.01, 32],
      [0.01, 64],
      [0.1, 32],
      [0.1, 64],
    ]);
    const random = {
      version: 1,
      base,
      method: "random",
      count: 5,
      seed: 7,
      axes: { lr: { random: "log-uniform", min: 0.001, max: 1 }, batchSize: [32, 64, 128] },
    };
    const a = expandSweep(random);
    expect(a).toHaveLength(5);
    expect(expandSweep(random)).toEqual(a);
    for (const m of a) expect(m.values.lr as number).toBeGreaterThanOrEqual(0.001);
    const more = expandSweep({ ...random, count: 8 });
    expect(more.slice(0, 5).map((m) => m.key)).toEqual(a.map((m) => m.key));
    expect(expandSweep({ ...random, seed: 8 }).map((m) => m.key)).not.toEqual(a.map((m) => m.key));
  });

  it("sweeps delta directly: lr = delta * sqrt(b) / C, with batch sizes or a split", () => {
    const C = 2.5;
    const members = expandSweep({
      version: 1,
      base,
      axes: { delta: [0.01, 0.05], batchSize: [16, 64] },
      delta: { noise: C },
    });
    expect(members).toHaveLength(4);
    for (const m of members) {
      const b = m.values.batchSize as number;
      const lr = scheduleLr(m.spec.schedule) as number;
      expect(lr).toBeCloseTo(((m.values.delta as number) * Math.sqrt(b)) / C, 12);
      expect(m.values.lr).toBe(lr);
      expect(m.delta).toBeCloseTo(m.values.delta as number, 10);
    }
    // A split: the batch takes half of the change from the base schedule's delta (LR 0.1, batch 128).
    const split = expandSweep({
      version: 1,
      base,
      axes: { delta: [((0.1 * C) / Math.sqrt(128)) * 4] },
      delta: { noise: C, split: 0.5 },
    });
    const m = split[0];
    expect(scheduleBatch(m?.spec.schedule)).toBe(32); // 128 / 4^(2 * 0.5)
    expect(scheduleLr(m?.spec.schedule)).toBeCloseTo(0.4 / 2, 10); // lr x 4^(1 - 0.5)
    expect(() => expandSweep({ version: 1, base, axes: { delta: [0.1] } })).toThrow(/needs C/);
  });

  it("templates are valid sweeps", () => {
    for (const t of SWEEP_TEMPLATES) {
      const spec = parseSweepSpec(t.spec);
      expect(spec.version).toBe(1);
      expect(expandSweep(t.spec, { noise: 1 }).length).toBeGreaterThan(0);
    }
    const paper = SWEEP_TEMPLATES.find((t) => t.name === "paper-grid");
    const members = expandSweep(paper?.spec);
    expect(new Set(members.map((m) => (m.spec.schedule as { name: string }).name))).toEqual(
      new Set(["paper-constant", "paper-lr-decay", "paper-batch-growth", "paper-hybrid"]),
    );
    expect(new Set(members.map((m) => m.spec.epochs))).toEqual(new Set([200]));
  });
});

describe("constraint expressions", () => {
  it("evaluates arithmetic, comparisons, logic and strings without eval", () => {
    const scope = { lr: 0.1, batchSize: 64, model: "mlp", "optimizer.kind": "sgd" };
    const ev = (s: string) => evaluate(parseExpression(s), scope);
    expect(ev("lr * 10 == 1")).toBe(true);
    expect(ev("2 ^ 3 ^ 2")).toBe(512);
    expect(ev("-lr < 0 && !(batchSize > 100)")).toBe(true);
    expect(ev("model == \"mlp\" || optimizer.kind == 'adam'")).toBe(true);
    expect(ev("max(1, batchSize / 32) % 3")).toBe(2);
    expect(() => parseExpression("process.exit()")).toThrow(/unknown function process.exit/);
    expect(() => parseExpression("require('fs')")).toThrow(/unknown function require/);
    expect(() => parseExpression("lr ; 1")).toThrow(/unexpected ";"/);
  });
});

describe("default concurrency", () => {
  it("one per GPU; on the CPU, N x wasm threads never exceeds the cores", async () => {
    const { chooseConcurrency } = await import("./concurrency.js");
    expect(
      chooseConcurrency({ backend: "webgpu", cores: 16, threads: null, gpus: 4 }).concurrency,
    ).toBe(4);
    expect(chooseConcurrency({ cores: 16, threads: null, gpus: 2 }).concurrency).toBe(2);
    // 2 cores: auto gives 1 wasm thread per run, so 2 runs fit.
    expect(chooseConcurrency({ backend: "wasm", cores: 2, threads: null, gpus: 0 })).toMatchObject({
      concurrency: 2,
    });
    expect(chooseConcurrency({ backend: "wasm", cores: 16, threads: null, gpus: 0 })).toMatchObject(
      { concurrency: 2 },
    );
    expect(chooseConcurrency({ cores: 16, threads: 2, gpus: 0 })).toMatchObject({ concurrency: 8 });
    expect(chooseConcurrency({ requested: 2, cores: 2, threads: null, gpus: 0 })).toMatchObject({
      concurrency: 2,
      threadsPerRun: 1,
    });
    expect(
      chooseConcurrency({ requested: 4, cores: 16, threads: null, gpus: 0 }).threadsPerRun,
    ).toBe(4);
    expect(
      chooseConcurrency({ backend: "cpu", cores: 8, threads: null, gpus: 0 }).concurrency,
    ).toBe(7);
    for (const cores of [1, 2, 3, 8, 16, 64])
      for (const threads of [null, 1, 2, 8]) {
        const c = chooseConcurrency({ backend: "wasm", cores, threads, gpus: 0 });
        expect(
          c.concurrency * (c.threadsPerRun ?? threads ?? Math.max(1, Math.min(8, cores - 1))),
        ).toBeLessThanOrEqual(Math.max(cores, threads ?? 1));
      }
  });
});
