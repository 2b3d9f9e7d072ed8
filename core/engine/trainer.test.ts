// The training loop on the real embedded Fashion-MNIST subset, cpu backend, small slices for speed.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Tensor4D, Variable } from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { compileSchedule } from "../schedule/index.js";
import { probeBackends } from "./backends.js";
import type { EpochEvent, StartEvent, StepEvent, TrainEvent, TrainSpecInput } from "./events.js";
import { TrainingError } from "./events.js";
import { asTrainingError, Trainer } from "./trainer.js";
import { startTraining } from "./worker-client.js";

const growing = {
  version: 1,
  epochs: 3,
  lr: { kind: "step", lr: 0.1, stepSize: 1, gamma: 0.5 },
  batch: { kind: "step", size: 50, factor: 2, every: 1 },
};

function spec(over: Partial<TrainSpecInput> = {}): TrainSpecInput {
  return {
    dataset: "default",
    model: "mlp",
    backend: "cpu",
    seed: 3,
    schedule: growing,
    trainLimit: 600,
    testLimit: 300,
    noiseEvery: 4,
    ...over,
  };
}

async function train(
  s: TrainSpecInput,
  onEvent?: (e: TrainEvent, t: Trainer) => void,
  resumeFrom?: string,
) {
  const events: TrainEvent[] = [];
  const trainer: Trainer = new Trainer(
    s,
    (e) => {
      events.push(e);
      onEvent?.(e, trainer);
    },
    { resumeFrom },
  );
  const summary = await trainer.run();
  const of = <T extends TrainEvent["type"]>(type: T) =>
    events.filter((e) => e.type === type) as Extract<TrainEvent, { type: T }>[];
  return { summary, events, of };
}

describe("Trainer", () => {
  it("follows the compiled schedule: LR every step, batch size every epoch, samples and loss", async () => {
    const { summary, of } = await train(spec());
    const compiled = compileSchedule(growing, { datasetSize: 600 });
    const steps = of("step") as StepEvent[];
    expect(steps).toHaveLength(compiled.totals.updates); // 12 + 6 + 3
    expect(steps.map((s) => s.lr)).toEqual(Array.from(compiled.steps.lr));
    expect(steps.map((s) => s.batchSize)).toEqual(Array.from(compiled.steps.batchSize));
    expect(steps.at(-1)?.samples).toBe(1800);
    for (const s of steps) {
      expect(Number.isFinite(s.loss) && s.gradNorm > 0 && s.throughput > 0).toBe(true);
    }
    // The two-batch estimate of C replaces delta/delta0 once it has observations.
    expect(steps[0]?.deltaMethod).toBe("two-batch-estimate");
    const epochs = of("epoch") as EpochEvent[];
    expect(epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
    expect(epochs[2]?.trainLoss).toBeLessThan(epochs[0]?.trainLoss as number);
    expect(epochs[2]?.testAccuracy).toBeGreaterThan(0.5); // 10 classes: chance is 0.1
    expect(summary).toMatchObject({ status: "completed", steps: 21, epochs: 3 });
    expect(summary.testAccuracy).toBe(epochs[2]?.testAccuracy);
    const start = of("start")[0] as StartEvent;
    expect(start).toMatchObject({ backend: "cpu", epochs: 3, steps: 21, startEpoch: 0 });
    expect(start.dataset.source).toMatch(/Fashion-MNIST/);
  });

  it("says what delta is made of: the scheduled delta/delta0, the running C, the steps C was re-estimated, each step's own time", async () => {
    const constant = {
      version: 1,
      epochs: 2,
      lr: { kind: "constant", lr: 0.05 },
      batch: { kind: "constant", size: 50 },
    };
    const { of } = await train(spec({ schedule: constant, noiseEvery: 4 }));
    const steps = of("step") as StepEvent[];
    expect(steps).toHaveLength(24);
    // Constant LR and batch: the schedule's delta never moves...
    expect(new Set(steps.map((s) => s.deltaScheduled))).toEqual(new Set([1]));
    // ...C is re-estimated exactly every noiseEvery steps, and the measured delta moves only there.
    const updates = steps.filter((s) => s.noiseUpdated).map((s) => s.step);
    expect(updates).toEqual([0, 4, 8, 12, 16, 20]);
    for (let i = 1; i < steps.length; i++) {
      const [a, b] = [steps[i - 1] as StepEvent, steps[i] as StepEvent];
      if (!b.noiseUpdated) expect(b.delta).toBe(a.delta);
      expect(b.delta).toBeCloseTo((0.05 * (b.noiseC as number)) / Math.sqrt(50), 12);
    }
    expect(new Set(steps.map((s) => s.delta)).size).toBeGreaterThan(1);
    // Each step has its own time (not its reporting window's), increasing, on the start event's clock.
    const times = steps.map((s) => s.time as number);
    const start = (of("start")[0] as StartEvent).time as number;
    expect(times[0]).toBeGreaterThanOrEqual(start);
    for (let i = 1; i < times.length; i++)
      expect(times[i]).toBeGreaterThanOrEqual(times[i - 1] as number);
    expect(new Set(times.slice(0, 10)).size).toBe(10);
    expect((of("epoch")[1] as EpochEvent).wallTime).toBeGreaterThanOrEqual(times.at(-1) as number);
  });

  it("estimates C directly at chosen epochs without changing the run", async () => {
    const withDirect = await train(
      spec({ schedule: { ...growing, epochs: 2 }, noiseDirectEpochs: [0] }),
    );
    const without = await train(spec({ schedule: { ...growing, epochs: 2 } }));
    const noise = withDirect.of("noise");
    expect(noise).toHaveLength(1);
    expect(noise[0]).toMatchObject({ epoch: 0, method: "direct", batches: 8, batchSize: 50 });
    // Same order of magnitude as the online two-batch estimate of the same run.
    const online = (withDirect.of("epoch")[0] as EpochEvent).noiseC as number;
    expect(noise[0]?.c).toBeGreaterThan(online / 4);
    expect(noise[0]?.c).toBeLessThan(online * 4);
    const losses = (r: typeof without) => (r.of("step") as StepEvent[]).map((s) => s.loss);
    expect(losses(withDirect)).toEqual(losses(without));
  });

  it("has no tensor leaks: the same tensor count after epoch 1 and epoch 5", async () => {
    const { of } = await train(
      spec({
        schedule: { ...growing, epochs: 5, batch: { kind: "constant", size: 64 } },
        trainLimit: 256,
        testLimit: 100,
      }),
    );
    const counts = (of("epoch") as EpochEvent[]).map((e) => e.tensors);
    expect(counts).toHaveLength(5);
    expect(counts[4]).toBe(counts[0]);
  });

  it("is deterministic for a seed, and another seed gives another run", async () => {
    const lossesOf = async (seed: number) =>
      (
        (await train(spec({ seed, schedule: { ...growing, epochs: 1 } }))).of("step") as StepEvent[]
      ).map((s) => s.loss);
    const a = await lossesOf(5);
    expect(await lossesOf(5)).toEqual(a);
    expect(await lossesOf(6)).not.toEqual(a);
  });

  it("resumes from the epoch checkpoint on the same trajectory", async () => {
    const dirA = mkdtempSync(join(tmpdir(), "ckpt-a-"));
    const full = await train(spec({ checkpointDir: dirA }));
    const dirB = mkdtempSync(join(tmpdir(), "ckpt-b-"));
    const first = await train(spec({ checkpointDir: dirB }), (e, t) => {
      if (e.type === "checkpoint" && e.epoch === 0) t.stop();
    });
    expect(first.summary.status).toBe("stopped");
    expect(first.of("epoch")).toHaveLength(1);
    expect(readdirSync(dirB).sort()).toEqual(["epoch-0000", "latest.json"]);
    const resumed = await train(
      spec({ checkpointDir: dirB }),
      undefined,
      first.summary.checkpoint as string,
    );
    expect((resumed.of("start")[0] as StartEvent).startEpoch).toBe(1);
    const tail = (r: typeof full) =>
      (r.of("step") as StepEvent[]).filter((s) => s.epoch >= 1).map((s) => [s.step, s.loss]);
    expect(tail(resumed)).toEqual(tail(full));
    expect(resumed.summary.testAccuracy).toBe(full.summary.testAccuracy);
  });

  it("stops on a NaN loss with a diagnosis naming the step and the LR", async () => {
    const err = await train(
      spec({ schedule: { ...growing, epochs: 1, lr: { kind: "constant", lr: 1e9 } } }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(TrainingError);
    expect(err.code).toBe("nan-loss");
    expect(err.message).toMatch(
      /loss became (NaN|Infinity|-Infinity) at step \d+ \(epoch 0\) with learning rate 1000000000.*too high.*try 100000000/,
    );
  });

  it("a batch larger than the dataset is capped with a warning the run reports", async () => {
    const { of } = await train(
      spec({
        schedule: {
          version: 1,
          epochs: 1,
          lr: { kind: "constant", lr: 0.05 },
          batch: { kind: "constant", size: 5000 },
        },
        trainLimit: 200,
      }),
    );
    const start = of("start")[0] as StartEvent;
    expect(start.warnings.join(" ")).toMatch(/exceeds the dataset \(N = 200\).*capped at 200/);
    expect((of("step") as StepEvent[]).map((s) => s.batchSize)).toEqual([200]);
  });

  it("turns allocation failures from any backend into an out-of-memory error with a fix", async () => {
    const s = (await import("./events.js")).TrainSpecSchema.parse(spec({ model: "resnet18" }));
    for (const message of [
      "Failed to allocate buffer of size 1073741824", // webgpu
      "OOM when allocating tensor with shape[4096,64,32,32]", // tfjs-node
      "RangeError: Array buffer allocation failed", // cpu
      "memory access out of bounds", // wasm heap exhausted
    ]) {
      const e = asTrainingError(new Error(message), 12, 3, s);
      expect(e.code).toBe("out-of-memory");
      expect(e.message).toMatch(
        /ran out of memory at step 12 \(epoch 3\) training resnet18.*Lower the batch size/,
      );
    }
    expect(asTrainingError(new Error("shape mismatch"), 1, 0, s).code).toBe("internal");
  });

  it("rejects unknown models and datasets with clear errors", async () => {
    await expect(train(spec({ model: "resnet1000" }))).rejects.toThrow(
      /Unknown model "resnet1000"/,
    );
    await expect(train(spec({ dataset: "/no/such/folder" }))).rejects.toMatchObject({
      code: "dataset",
    });
  });
});

describe("Trainer on the real WebGPU path (lavapipe on CI machines)", async () => {
  const [probe] = await probeBackends({ only: ["webgpu"] });
  if (!probe?.available) console.warn(`skipping WebGPU training: no adapter (${probe?.reason})`);
  it.skipIf(!probe?.available)(
    "trains the mlp: loss falls, no tensor leak, data read with await data()",
    async () => {
      const { summary, of } = await train(
        spec({
          backend: "webgpu",
          schedule: { ...growing, epochs: 2, batch: { kind: "constant", size: 64 } },
          trainLimit: 640,
          testLimit: 200,
        }),
      );
      expect((of("start")[0] as StartEvent).backend).toBe("webgpu");
      const epochs = of("epoch") as EpochEvent[];
      expect(epochs[1]?.trainLoss).toBeLessThan(epochs[0]?.trainLoss as number);
      expect(epochs[1]?.tensors).toBe(epochs[0]?.tensors);
      expect(summary.testAccuracy).toBeGreaterThan(0.5);
    },
  );

  it.skipIf(!probe?.available)(
    "computes the cnn's gradient norm as cpu does (10 weight tensors: more than WebGPU binds at once)",
    async () => {
      const tf = await import("@tensorflow/tfjs-core");
      const { selectBackend } = await import("./backends.js");
      const { createModel } = await import("../models/index.js");
      const { Optimizer } = await import("./optimizers.js");
      const { trainStep } = await import("./step.js");
      const normOn = async (backend: string) => {
        await selectBackend(backend);
        const model = createModel("cnn", { seed: 4 });
        const variables = model.trainableWeights.map((w) => w.read() as Variable);
        const optimizer = new Optimizer({ kind: "sgd" }, variables);
        const x = tf.randomUniform([8, 28, 28, 1], 0, 1, "float32", 9) as Tensor4D;
        const labels = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
        const r = trainStep({ model, variables, optimizer, numClasses: 10 }, x, labels, 0.01, true);
        const [norm, small] = await Promise.all([r.gradNormSq.data(), r.smallNormSq?.data()]);
        tf.dispose([x, r.loss, r.gradNormSq, r.correct, ...(r.smallNormSq ? [r.smallNormSq] : [])]);
        optimizer.dispose();
        model.dispose();
        return [norm[0] as number, small?.[0] as number];
      };
      const [cpuNorm, cpuSmall] = await normOn("cpu");
      const [gpuNorm, gpuSmall] = await normOn("webgpu");
      expect(cpuNorm).toBeGreaterThan(0);
      expect(Math.abs(gpuNorm / cpuNorm - 1)).toBeLessThan(1e-3);
      expect(Math.abs(gpuSmall / cpuSmall - 1)).toBeLessThan(1e-3);
    },
  );
});

describe("training in a worker process", () => {
  it("streams events, pauses and resumes mid-epoch, and stops cleanly", async () => {
    const events: TrainEvent[] = [];
    const handle = startTraining(
      spec({ schedule: { ...growing, batch: { kind: "constant", size: 20 } } }),
      {
        onEvent: (e) => {
          events.push(e);
          if (e.type === "step" && e.step === 3) handle.pause();
          if (e.type === "paused") setTimeout(() => handle.resume(), 300);
          if (e.type === "step" && e.step === 40) handle.stop();
        },
      },
    );
    const summary = await handle.done;
    const types = events.map((e) => e.type);
    expect(types).toContain("paused");
    expect(types.indexOf("resumed")).toBeGreaterThan(types.indexOf("paused"));
    expect(summary.status).toBe("stopped");
    expect(summary.steps).toBeLessThan(90);
    expect(summary.steps).toBeGreaterThan(40);
  });

  it("a worker killed mid-run rejects with what happened; the run resumes from its checkpoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ckpt-kill-"));
    let checkpoint = "";
    const handle = startTraining(spec({ checkpointDir: dir }), {
      onEvent: (e) => {
        if (e.type === "checkpoint") checkpoint = e.path;
        if (e.type === "step" && e.epoch === 1) handle.kill("SIGKILL");
      },
    });
    await expect(handle.done).rejects.toThrow(/worker was killed by SIGKILL/);
    expect(checkpoint).toMatch(/epoch-0000$/);
    const resumed = startTraining(spec({ checkpointDir: dir }), { resumeFrom: checkpoint });
    const summary = await resumed.done;
    expect(summary).toMatchObject({ status: "completed", steps: 21 });
  });
});
