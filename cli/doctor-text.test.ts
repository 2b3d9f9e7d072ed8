// The doctor's text (cli/doctor-text.ts) from a given report, and `sgd-studio doctor` on this machine.
import { describe, expect, it } from "vitest";
import { BACKEND_LADDER, type DoctorJson } from "../core/engine/backends.js";
import { formatDoctorText } from "./doctor-text.js";
import { runCli } from "./testing.js";

const run = runCli;

describe("doctor text", () => {
  it("formats unavailable rungs with reason and fix, and the GPU facts", () => {
    const text = formatDoctorText({
      generatedAt: "2026-01-01T00:00:00.000Z",
      node: "v20.0.0",
      platform: "linux",
      arch: "x64",
      tfjsCore: "4.22.0",
      recommended: "wasm",
      activeBackend: "",
      backends: [
        {
          name: "tensorflow-gpu",
          tfjsName: "tensorflow",
          packageName: "@tensorflow/tfjs-node-gpu",
          available: false,
          autoSelect: false,
          reason: "tfjs-node-gpu loads, but TensorFlow created no GPU device",
          fix: "Install CUDA 11.2.",
          details: {
            nvidia: {
              present: true,
              gpus: [
                {
                  name: "NVIDIA H200",
                  driverVersion: "550.54.15",
                  memoryMiB: 143771,
                  computeCapability: "9.0",
                },
              ],
              driverCudaVersion: "12.4",
            },
            cudaLibraries: { found: { "libcudnn.so.8": "/x" }, missing: ["libcudart.so.11.0"] },
          },
        },
        {
          name: "wasm",
          tfjsName: "wasm",
          packageName: "@tensorflow/tfjs-backend-wasm",
          available: true,
          autoSelect: true,
          details: { simd: true, threads: false },
        },
      ],
      kernelOverrides: [],
      env: { LD_LIBRARY_PATH: null },
    });
    expect(text).toContain(
      "1. tensorflow-gpu  no   tfjs-node-gpu loads, but TensorFlow created no GPU device",
    );
    expect(text).toContain("fix: Install CUDA 11.2.");
    expect(text).toContain("2. wasm            yes  SIMD, single thread");
    expect(text).toContain("GPU: NVIDIA H200, driver 550.54.15, 143771 MiB, compute 9.0");
    expect(text).toContain("1 of 8 found; missing libcudart.so.11.0");
    expect(text).toContain("LD_LIBRARY_PATH=(unset)");
  });
});

describe("the wasm rung's threads in doctor", () => {
  const report = (details: Record<string, unknown>): string =>
    formatDoctorText({
      generatedAt: "2026-12-05T00:00:00.000Z",
      node: "v20.20.2",
      platform: "linux",
      arch: "x64",
      tfjsCore: "4.22.0",
      recommended: "wasm",
      activeBackend: "",
      backends: [
        {
          name: "wasm",
          tfjsName: "wasm",
          packageName: "@tensorflow/tfjs-backend-wasm",
          available: true,
          autoSelect: true,
          details: { simd: true, ...details },
        },
      ],
      kernelOverrides: [],
      env: {},
    });

  it("says how many threads and why, and how to change it", () => {
    const text = report({
      threads: 3,
      threadsWhy: "auto: 4 physical cores, one left for the host",
      threadSupport: true,
    });
    expect(text).toContain(
      "1. wasm            yes  SIMD, 3 threads (auto: 4 physical cores, one left for the host)",
    );
    expect(text).toMatch(/threads: SGD_STUDIO_WASM_THREADS=N, `train --threads N`/);
  });

  it("notes why a machine falls back to one thread", () => {
    const text = report({
      threads: 1,
      threadsWhy: "SGD_STUDIO_WASM_THREADS=4",
      threadSupport: false,
      threadsNote: "one thread: SharedArrayBuffer is not available in this process",
    });
    expect(text).toContain("yes  SIMD, single thread (SGD_STUDIO_WASM_THREADS=4)");
    expect(text).toContain("note: one thread: SharedArrayBuffer is not available in this process");
    expect(text).not.toMatch(/threads: SGD_STUDIO_WASM_THREADS=N/);
  });
});

describe("sgd-studio doctor", () => {
  it("--json prints the core report; the text lays out the same report", async () => {
    const j = await run("doctor", "--json");
    expect(j.code).toBe(0);
    const json = JSON.parse(j.out) as DoctorJson;
    expect(json.backends.map((b) => b.name)).toEqual([...BACKEND_LADDER]);

    const { code, out: text } = await run("doctor");
    expect(code).toBe(0);
    expect(text.startsWith("SGD Studio doctor\n")).toBe(true);
    BACKEND_LADDER.forEach((name, i) => {
      expect(text).toContain(`${i + 1}. ${name}`);
    });
    expect(text).toContain(`Automatic selection would use: ${json.recommended}`);
    const fixes = text.split("\n").filter((l) => l.trim().startsWith("fix:"));
    expect(fixes.length).toBe(json.backends.filter((b) => b.fix).length);
    expect(text).toMatch(/Conv2DBackpropFilter \(kernel, wasm\): registered/);
    expect(text).toContain("LD_LIBRARY_PATH=");
  });
});
