// The Electron training launcher with `utilityProcess.fork` emulated by a Node child process
// (test/utility-process-harness.ts provides `process.parentPort`): the real worker entry
// (training-worker.ts, which runs core/engine/worker.ts) trains on the embedded dataset.
import { type ChildProcess, fork } from "node:child_process";
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import { beforeEach, describe, expect, it, vi } from "vitest";

vi.mock("electron", () => import("./test/fake-electron.js"));

import type { TrainEvent, TrainSpecInput } from "../core/engine/events.js";
import { resetFakeElectron, utilityProcess } from "./test/fake-electron.js";
import { startTrainingInUtilityProcess, trainingWorkerEntry } from "./training-process.js";

const HARNESS = fileURLToPath(new URL("./test/utility-process-harness.ts", import.meta.url));

/** A UtilityProcess look-alike over a forked Node process. */
class NodeUtilityProcess extends EventEmitter {
  readonly child: ChildProcess;
  constructor(modulePath: string) {
    super();
    // The harness is TypeScript too, so it always runs through tsx.
    this.child = fork(HARNESS, [modulePath], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.child.on("spawn", () => this.emit("spawn"));
    this.child.on("message", (m: unknown) => {
      if (typeof m === "object" && m !== null && "__toParent" in m) {
        this.emit("message", (m as { __toParent: unknown }).__toParent);
      }
    });
    // Electron reports an exit code only; a signal shows as a non-zero code.
    this.child.on("exit", (code, signal) => this.emit("exit", code ?? (signal ? 128 + 9 : 1)));
  }
  get pid() {
    return this.child.exitCode === null && this.child.signalCode === null
      ? this.child.pid
      : undefined;
  }
  get stderr() {
    return this.child.stderr;
  }
  postMessage(message: unknown) {
    if (this.child.connected) this.child.send({ __port: message });
  }
  kill() {
    return this.child.kill("SIGTERM");
  }
}

const growing = {
  version: 1,
  epochs: 3,
  lr: { kind: "step", lr: 0.1, stepSize: 1, gamma: 0.5 },
  batch: { kind: "constant", size: 20 },
};
const spec = (over: Partial<TrainSpecInput> = {}): TrainSpecInput => ({
  dataset: "default",
  model: "mlp",
  backend: "cpu",
  seed: 3,
  schedule: growing,
  trainLimit: 600,
  testLimit: 300,
  noiseEvery: 4,
  ...over,
});

beforeEach(() => {
  resetFakeElectron();
  utilityProcess.fork.mockImplementation(
    (modulePath: string) => new NodeUtilityProcess(modulePath),
  );
});

describe("training in a utility process", () => {
  it("forks the worker entry beside the launcher", () => {
    expect(trainingWorkerEntry("file:///app/dist/electron/training-process.js")).toEqual({
      path: "/app/dist/electron/training-worker.js",
      execArgv: [],
    });
    expect(trainingWorkerEntry("file:///src/electron/training-process.ts").path).toBe(
      "/src/electron/training-worker.ts",
    );
  });

  it("streams events, pauses, resumes and stops, with the same handle as child_process.fork", async () => {
    const events: TrainEvent[] = [];
    const handle = startTrainingInUtilityProcess(spec(), {
      onEvent: (e) => {
        events.push(e);
        if (e.type === "step" && e.step === 3) handle.pause();
        if (e.type === "paused") setTimeout(() => handle.resume(), 300);
        if (e.type === "step" && e.step === 40) handle.stop();
      },
    });
    expect(utilityProcess.fork).toHaveBeenCalledWith(
      expect.stringMatching(/training-worker\.ts$/),
      [],
      expect.objectContaining({
        serviceName: "SGD Studio training",
        execArgv: ["--import", "tsx"],
      }),
    );
    const worker = utilityProcess.fork.mock.results[0]?.value as NodeUtilityProcess;
    const exited = new Promise((resolve) => worker.once("exit", resolve));
    const summary = await handle.done;
    const types = events.map((e) => e.type);
    expect(types[0]).toBe("start");
    expect(types).toContain("paused");
    expect(types.indexOf("resumed")).toBeGreaterThan(types.indexOf("paused"));
    expect(summary.status).toBe("stopped");
    expect(summary.steps).toBeGreaterThan(40);
    expect(summary.steps).toBeLessThan(90);
    // The worker ends by itself once it has reported.
    expect(await exited).toBe(0);
    expect(handle.pid).toBeUndefined();
  });

  it("a worker that dies rejects with what happened", async () => {
    const handle = startTrainingInUtilityProcess(spec(), {
      onEvent: (e) => {
        if (e.type === "step" && e.step === 2) handle.kill("SIGKILL");
      },
    });
    await expect(handle.done).rejects.toThrow(
      /training worker exited with code \d+ before finishing/,
    );
  });

  it("a bad spec fails with the worker's error", async () => {
    const errors: TrainEvent[] = [];
    const handle = startTrainingInUtilityProcess(spec({ model: "no-such-model" }), {
      onEvent: (e) => {
        if (e.type === "error") errors.push(e);
      },
    });
    await expect(handle.done).rejects.toThrow(/no-such-model/);
    expect(errors).toHaveLength(1);
  });
});
