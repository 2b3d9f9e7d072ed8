// Bounded work in the schedule core: epochs, compiled steps and nesting depth
// are limited, with errors that say what is wrong and how to fix it, through
// the core and the service (the CLI: cli/schedule-limits.test.ts).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TrainSpecSchema } from "../engine/events.js";
import { ServiceError } from "../service/contract.js";
import { Service } from "../service/service.js";
import {
  compileSchedule,
  MAX_DOCUMENT_DEPTH,
  MAX_EPOCHS,
  MAX_SCHEDULE_DEPTH,
  MAX_STEPS,
  parseSchedule,
  parseScheduleJson,
  ScheduleError,
} from "./index.js";

function doc(epochs: number, batch = 128, lr: unknown = { kind: "constant", lr: 0.1 }) {
  return { version: 1, epochs, lr, batch: { kind: "constant", size: batch } };
}

/** warmup(warmup(...(constant))) with `levels` schedules in all, built without recursion. */
function nestedWarmups(levels: number): unknown {
  let lr: unknown = { kind: "constant", lr: 0.1 };
  for (let i = 1; i < levels; i++) lr = { kind: "warmup", epochs: 1, schedule: lr };
  return doc(10, 128, lr);
}

/** sequence(pieces: [sequence(...)]) with `levels` schedules in all. */
function nestedSequences(levels: number): unknown {
  let lr: unknown = { kind: "constant", lr: 0.1 };
  for (let i = 1; i < levels; i++) lr = { kind: "sequence", pieces: [{ schedule: lr }] };
  return doc(10, 128, lr);
}

function caught(f: () => unknown): ScheduleError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ScheduleError);
    return err as ScheduleError;
  }
  throw new Error("expected a ScheduleError");
}

describe("the limits", () => {
  it("are the documented values, and the training spec uses the same epoch limit", () => {
    expect({ MAX_EPOCHS, MAX_STEPS, MAX_SCHEDULE_DEPTH, MAX_DOCUMENT_DEPTH }).toEqual({
      MAX_EPOCHS: 100_000,
      MAX_STEPS: 10_000_000,
      MAX_SCHEDULE_DEPTH: 16,
      MAX_DOCUMENT_DEPTH: 64,
    });
    const spec = { dataset: "embedded", model: "mlp", schedule: {} };
    expect(TrainSpecSchema.safeParse({ ...spec, epochs: MAX_EPOCHS }).success).toBe(true);
    const r = TrainSpecSchema.safeParse({ ...spec, epochs: MAX_EPOCHS + 1 });
    expect(r.success).toBe(false);
    const big = TrainSpecSchema.safeParse({ ...spec, epochs: 1e9 });
    expect(big.error?.issues[0]?.path).toEqual(["epochs"]);
    expect(big.error?.issues[0]?.message).toBe(
      "epochs must be at most 100,000 (got 1000000000); train at most 100,000 epochs (MAX_EPOCHS)",
    );
  });
});

describe("epochs", () => {
  it("more than MAX_EPOCHS is a validation error naming the field, the value and the limit", () => {
    const e = caught(() => parseSchedule(doc(1e9)));
    expect(e.issues).toEqual([
      {
        path: "epochs",
        value: 1e9,
        message:
          "epochs must be at most 100,000 (got 1000000000); the compiler builds every epoch and step, so use at most 100,000 epochs (MAX_EPOCHS)",
      },
    ]);
    expect(() => parseSchedule(doc(MAX_EPOCHS))).not.toThrow();
  });
});

describe("compiled steps", () => {
  it("more than MAX_STEPS is refused before the per-step arrays exist, quickly", () => {
    const t0 = performance.now();
    // 100,000 epochs of 50,000 one-sample steps: 5e9 steps, 120 GB of step arrays.
    const e = caught(() => compileSchedule(doc(MAX_EPOCHS, 1), { datasetSize: 50_000 }));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]?.path).toBe("epochs");
    expect(e.issues[0]?.message).toBe(
      "the schedule compiles to 5,000,000,000 optimizer steps (100,000 epochs of up to 50,000 steps: dataset size 50,000, smallest batch size 1); the limit is 10,000,000 steps (MAX_STEPS): use fewer epochs, larger batches or a smaller dataset size",
    );
  });

  it("counts the real steps of every epoch (a growing batch), so a schedule just over the limit is refused", () => {
    // 3 epochs of batch 1 over N = 3,333,334: 10,000,002 steps, just over.
    const e = caught(() => compileSchedule(doc(3, 1), { datasetSize: 3_333_334 }));
    expect(e.issues[0]?.message).toMatch(/^the schedule compiles to 10,000,002 optimizer steps/);
    const growing = {
      version: 1,
      epochs: 2,
      lr: { kind: "constant", lr: 0.1 },
      batch: { kind: "step", size: 1, factor: 10, every: 1 },
    };
    // 1,000,000 + 100,000 steps: well under the limit, compiles.
    expect(compileSchedule(growing, { datasetSize: 1_000_000 }).totals.updates).toBe(1_100_000);
  });
});

describe("nesting depth", () => {
  it(`${MAX_SCHEDULE_DEPTH} levels of schedules are fine, one more is an error with the path`, () => {
    expect(() => parseSchedule(nestedWarmups(MAX_SCHEDULE_DEPTH))).not.toThrow();
    expect(() => parseSchedule(nestedSequences(MAX_SCHEDULE_DEPTH))).not.toThrow();
    const e = caught(() => parseSchedule(nestedWarmups(MAX_SCHEDULE_DEPTH + 1)));
    expect(e.issues).toEqual([
      {
        path: `lr${".schedule".repeat(MAX_SCHEDULE_DEPTH)}`,
        value: undefined,
        message:
          "schedules are nested more than 16 levels deep here (warmup and sequence schedules inside each other); the limit is 16 levels (MAX_SCHEDULE_DEPTH): flatten it, e.g. put the pieces of nested sequences in one sequence",
      },
    ]);
    const s = caught(() => parseSchedule(nestedSequences(MAX_SCHEDULE_DEPTH + 1)));
    expect(s.issues[0]?.path).toBe(`lr${".pieces[0].schedule".repeat(MAX_SCHEDULE_DEPTH)}`);
  });

  it("a document nested 100,000 deep gives the clean error, not a stack overflow", () => {
    for (const build of [nestedWarmups, nestedSequences]) {
      const e = caught(() => parseSchedule(build(100_000)));
      expect(e.issues[0]?.message).toMatch(/nested more than 16 levels deep/);
      expect(e.message).toMatch(/^invalid schedule\n {2}lr\.(schedule|pieces)/);
    }
    // The same through JSON text (JSON.parse itself copes with the depth).
    const text = `{"version":1,"epochs":10,"batch":{"kind":"constant","size":8},"lr":${'{"kind":"warmup","epochs":1,"schedule":'.repeat(100_000)}{"kind":"constant","lr":0.1}${"}".repeat(100_000)}}`;
    const j = caught(() => parseScheduleJson(text, "deep.json"));
    expect(j.message).toMatch(
      /^deep\.json: invalid schedule\n {2}lr(\.schedule){16}: schedules are nested/,
    );
  });

  it("deep nesting anywhere else (an unknown field) is a document-depth error", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const e = caught(() => parseSchedule({ ...doc(10), notes: deep }));
    expect(e.issues).toHaveLength(1);
    expect(e.issues[0]?.path).toBe(`notes${"[0]".repeat(MAX_DOCUMENT_DEPTH - 1)}`);
    expect(e.issues[0]?.message).toMatch(
      /^the document is nested more than 64 levels deep here \(objects and arrays\); the limit is 64/,
    );
    // Shallow unknown fields still get the usual message.
    const shallow = caught(() => parseSchedule({ ...doc(10), notes: [[1]] }));
    expect(shallow.issues[0]?.message).toMatch(/unknown field "notes"/);
  });
});

describe("through the service", () => {
  it("schedules.preview with epochs 1e9, 5e9 steps or a 100,000-deep document fails clearly within a second, and the service keeps answering", async () => {
    const service = new Service({ home: mkdtempSync(join(tmpdir(), "sgd-limits-svc-")) });
    const cases: [unknown, number | undefined, RegExp][] = [
      [doc(1e9), undefined, /epochs = 1000000000: epochs must be at most 100,000/],
      [doc(MAX_EPOCHS, 1), 50_000, /compiles to 5,000,000,000 optimizer steps/],
      [nestedWarmups(100_000), undefined, /nested more than 16 levels deep/],
    ];
    for (const [schedule, datasetSize, message] of cases) {
      const t0 = performance.now();
      const err = await service
        .call("schedules.preview", { schedule, ...(datasetSize ? { datasetSize } : {}) })
        .catch((e: unknown) => e);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(err).toBeInstanceOf(ServiceError);
      expect((err as ServiceError).code).toBe("invalid-schedule");
      expect((err as ServiceError).message).toMatch(message);
    }
    const ok = await service.call("schedules.preview", { schedule: doc(3) });
    expect(ok.totals.epochs).toBe(3);
    const v = await service.call("schedules.validate", { schedule: nestedSequences(100_000) });
    expect(v).toMatchObject({
      ok: false,
      issues: [{ path: expect.stringMatching(/^lr\.pieces/) }],
    });
    await service.close();
  });
});

describe("work per step stays small for any valid document", () => {
  it("cosine-restarts with a tiny period compiles at once (no walk over every cycle)", () => {
    const s = doc(100, 1000, { kind: "cosine-restarts", lr: 0.1, t0: 1e-9 });
    const t0 = performance.now();
    const c = compileSchedule({ ...s, per: "step" }, { datasetSize: 100_000 });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(c.totals.updates).toBe(10_000);
    for (const lr of c.steps.lr) expect(lr).toBeGreaterThanOrEqual(0);
    // Equal cycles still restart where the walk did: t0 = 3 -> restarts at 3, 6, 9.
    const r = compileSchedule(doc(10, 128, { kind: "cosine-restarts", lr: 1, t0: 3 }), {
      datasetSize: 128,
    });
    expect(r.epochs.map((e) => e.lr)).toEqual(
      [0, 1, 2, 0, 1, 2, 0, 1, 2, 0].map((c) => (1 + Math.cos((Math.PI * c) / 3)) / 2),
    );
  });

  it("200,000 milestones (LR and batch) and 40-piece sequences cost log n per step", () => {
    const milestones = Array.from({ length: 200_000 }, (_, i) => (i + 1) / 2_000);
    const lr = { kind: "multistep", lr: 1, milestones, gamma: 0.99999 };
    const batch = { kind: "multistep", size: 100, milestones, factor: 1 };
    const t0 = performance.now();
    const c = compileSchedule(
      { version: 1, epochs: 100, per: "step", lr, batch },
      { datasetSize: 100_000 },
    );
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(c.totals.updates).toBe(100 * 1000);
    // Step 1,500 of epoch 1 (t = 1.5): 3,000 milestones passed (0.0005 .. 1.5).
    expect(c.steps.lr[1000 + 500]).toBeCloseTo(0.99999 ** 3000, 12);
    const pieces = Array.from({ length: 40 }, (_, i) => ({
      epochs: 0.5,
      schedule: { kind: "constant", lr: i + 1 },
    }));
    const seq = compileSchedule(doc(20, 100, { kind: "sequence", pieces }), {
      datasetSize: 1000,
    });
    expect(seq.epochs.map((e) => e.lr)).toEqual(Array.from({ length: 20 }, (_, e) => 2 * e + 1));
  });
});
