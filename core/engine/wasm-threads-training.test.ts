// Training on the wasm backend does not depend on its thread count beyond
// float reassociation: a few steps of the cnn and the mlp on 1 and 2
// threads, a checkpoint made on 1 thread resumed on 2, and a worker process
// on 2 threads that records them and still ends promptly.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { selectBackend } from "./backends.js";
import type { StartEvent, StepEvent, TrainEvent, TrainSpecInput } from "./events.js";
import { Trainer } from "./trainer.js";
import { WASM_THREADS_ENV } from "./wasm-threads.js";
import { startTraining } from "./worker-client.js";

function spec(model: "cnn" | "mlp", over: Partial<TrainSpecInput> = {}): TrainSpecInput {
  return {
    dataset: "default",
    model,
    backend: "wasm",
    seed: 7,
    schedule: {
      version: 1,
      epochs: 2,
      lr: { kind: "constant", lr: 0.05 },
      batch: { kind: "constant", size: 64 },
    },
    trainLimit: 256,
    testLimit: 128,
    noiseEvery: 0,
    ...over,
  };
}

/** Trains on `threads` wasm threads (through SGD_STUDIO_WASM_THREADS, as a worker would). */
async function train(
  s: TrainSpecInput,
  threads: number,
  opts: { resumeFrom?: string; stopAfterFirstEpoch?: boolean } = {},
) {
  vi.stubEnv(WASM_THREADS_ENV, String(threads));
  const events: TrainEvent[] = [];
  const trainer: Trainer = new Trainer(
    s,
    (e) => {
      events.push(e);
      if (opts.stopAfterFirstEpoch && e.type === "checkpoint" && e.epoch === 0) trainer.stop();
    },
    { resumeFrom: opts.resumeFrom },
  );
  const summary = await trainer.run();
  const steps = events.filter((e) => e.type === "step") as StepEvent[];
  const start = events.find((e) => e.type === "start") as StartEvent;
  return { summary, steps, start };
}

/** max over steps of |a - b| / |b| for loss and gradient norm. */
function maxRel(a: StepEvent[], b: StepEvent[]): number {
  expect(a.map((s) => s.step)).toEqual(b.map((s) => s.step));
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    const x = a[i] as StepEvent;
    const y = b[i] as StepEvent;
    worst = Math.max(worst, Math.abs(x.loss - y.loss) / Math.abs(y.loss));
    worst = Math.max(worst, Math.abs(x.gradNorm - y.gradNorm) / Math.abs(y.gradNorm));
  }
  return worst;
}

afterEach(async () => {
  vi.unstubAllEnvs();
  await selectBackend("cpu");
});

describe("training on 1 and 2 wasm threads", () => {
  for (const model of ["cnn", "mlp"] as const) {
    it(`${model}: the same losses and gradient norms, step by step, within float tolerance`, async () => {
      const one = await train(spec(model), 1);
      const two = await train(spec(model), 2);
      expect(one.start.numericPath?.wasmThreads).toBe(1);
      expect(two.start.numericPath?.wasmThreads).toBe(2);
      expect(two.start.backendSummary).toMatch(/2 threads/);
      expect(one.steps).toHaveLength(8);
      expect(maxRel(two.steps, one.steps)).toBeLessThan(1e-4);
      expect(two.summary.testAccuracy).toBeCloseTo(one.summary.testAccuracy as number, 2);
    });
  }

  it("a checkpoint made on 1 thread resumes on 2 on the same trajectory", async () => {
    const full = await train(
      spec("cnn", { checkpointDir: mkdtempSync(join(tmpdir(), "thr-a-")) }),
      1,
    );
    const dir = mkdtempSync(join(tmpdir(), "thr-b-"));
    const first = await train(spec("cnn", { checkpointDir: dir }), 1, {
      stopAfterFirstEpoch: true,
    });
    expect(first.summary.status).toBe("stopped");
    const resumed = await train(spec("cnn", { checkpointDir: dir }), 2, {
      resumeFrom: first.summary.checkpoint as string,
    });
    expect(resumed.start.startEpoch).toBe(1);
    expect(resumed.start.numericPath?.wasmThreads).toBe(2);
    const tail = full.steps.filter((s) => s.epoch >= 1);
    expect(resumed.steps).toHaveLength(tail.length);
    expect(maxRel(resumed.steps, tail)).toBeLessThan(1e-4);
    expect(resumed.summary.status).toBe("completed");
  });
});

describe("a training worker process on 2 wasm threads", () => {
  it("records 2 threads and ends as soon as training does", async () => {
    vi.stubEnv(WASM_THREADS_ENV, "2");
    let start: StartEvent | undefined;
    let summaryAt = 0;
    const oneEpoch = { ...(spec("mlp").schedule as object), epochs: 1 };
    const handle = startTraining(spec("mlp", { schedule: oneEpoch }), {
      onEvent: (e) => {
        if (e.type === "start") start = e;
        if (e.type === "summary") summaryAt = Date.now();
      },
    });
    const summary = await handle.done;
    const endedAfter = (Date.now() - summaryAt) / 1000;
    expect(summary.status).toBe("completed");
    expect(start?.numericPath?.wasmThreads).toBe(2);
    // The process ended (handle.done waits for that) within seconds of the summary.
    expect(endedAfter).toBeLessThan(10);
  }, 120_000);
});
