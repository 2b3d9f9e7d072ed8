// The numeric path of a run: the effective kernels and knobs, in the start event and in the library.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { RunStore } from "../store/store.js";
import { selectBackend } from "./backends.js";
import type { StartEvent, TrainEvent, TrainSpecInput } from "./events.js";
import { type NumericPath, numericPath } from "./numeric-path.js";
import { Trainer } from "./trainer.js";

const tiny: TrainSpecInput = {
  dataset: "default",
  model: "mlp",
  backend: "cpu",
  seed: 1,
  schedule: {
    version: 1,
    epochs: 1,
    lr: { kind: "constant", lr: 0.05 },
    batch: { kind: "constant", size: 50 },
  },
  trainLimit: 100,
  testLimit: 50,
  noiseEvery: 0,
};

const home = mkdtempSync(join(tmpdir(), "numeric-path-"));
const store = RunStore.open(home);
afterAll(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllEnvs();
});

/** Trains `spec` with the given Trainer class, recording into the library; returns the run id and events. */
async function trainRecorded(Cls: typeof Trainer, spec: TrainSpecInput) {
  const run = store.createRun(spec);
  const rec = store.recorder(run.id, { flushMs: 0, heartbeatMs: 0 });
  const events: TrainEvent[] = [];
  await new Cls(spec, (e) => {
    events.push(e);
    rec.record(e);
  }).run();
  rec.close();
  const start = events.find((e) => e.type === "start") as StartEvent;
  const recorded = (store.getRun(run.id).environment as { numericPath?: NumericPath }).numericPath;
  return { start, recorded };
}

describe("numericPath", () => {
  it("reports the effective kernels on cpu and wasm: fused batch norm on both", async () => {
    vi.stubEnv("SGD_STUDIO_FUSED_BATCH_NORM", undefined);
    vi.stubEnv("SGD_STUDIO_TFJS_FLAGS", "DEPRECATION_WARNINGS_ENABLED=false");
    const cpu = numericPath(await selectBackend("cpu"));
    expect(cpu).toMatchObject({
      version: 1,
      backend: "cpu",
      tfjsBackend: "cpu",
      fusedBatchNorm: true,
      webgpuFilterSplit: "unused",
      tfjsFlags: ["DEPRECATION_WARNINGS_ENABLED=false"],
    });
    expect(cpu.env).toContain("SGD_STUDIO_TFJS_FLAGS=DEPRECATION_WARNINGS_ENABLED=false");
    expect(cpu.kernelOverrides).toContain("kernel SgdStudioAxpby");
    expect(cpu.kernelOverrides).toContain("gradient Mean");
    expect(cpu.kernelOverrides).not.toContain("replace Conv2DBackpropInput");
    const wasm = numericPath(await selectBackend("wasm"));
    expect(wasm).toMatchObject({ backend: "wasm", fusedBatchNorm: true });
    expect(wasm.kernelOverrides).toContain("replace Conv2DBackpropInput");
    expect(JSON.parse(JSON.stringify(wasm))).toEqual(wasm);
    vi.stubEnv("SGD_STUDIO_TFJS_FLAGS", undefined);
    await selectBackend("cpu");
  });

  it("a run with SGD_STUDIO_FUSED_UPDATE=0 records another numeric path than one without", async () => {
    vi.stubEnv("SGD_STUDIO_FUSED_UPDATE", undefined);
    const a = await trainRecorded(Trainer, tiny);
    expect(a.recorded).toEqual(a.start.numericPath);
    expect(a.recorded).toMatchObject({ backend: "cpu", fusedUpdate: true });
    expect(a.recorded?.env).not.toContain("SGD_STUDIO_FUSED_UPDATE=0");

    // The kernels read the variable once, when loaded (as in a fresh worker
    // process): load the trainer's modules again with it set.
    vi.stubEnv("SGD_STUDIO_FUSED_UPDATE", "0");
    vi.resetModules();
    const fresh = await import("./trainer.js");
    const b = await trainRecorded(fresh.Trainer, tiny);
    expect(b.recorded).toEqual(b.start.numericPath);
    expect(b.recorded).toMatchObject({ backend: "cpu", fusedUpdate: false });
    expect(b.recorded?.env).toContain("SGD_STUDIO_FUSED_UPDATE=0");
    expect(b.recorded).not.toEqual(a.recorded);
  });
});
