import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { listKernelOverrides, registerKernelOverrides } from "./index.js";
import { nativeWasmKernel } from "./wasm-util.js";

describe("kernel override registry", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("registers every override on wasm, idempotently", async () => {
    await selectBackend("wasm");
    const first = listKernelOverrides();
    // Overrides for webgpu stay pending until that backend is loaded.
    const wasmSide = first.filter((o) => o.backend === "wasm" || o.kind === "gradient");
    expect(wasmSide.every((o) => o.status === "registered")).toBe(true);
    const kernels = wasmSide.filter((o) => o.kind !== "gradient").map((o) => o.kernelName);
    const before = kernels.map((k) => tf.getKernel(k, "wasm")?.kernelFunc);
    const again = registerKernelOverrides();
    expect(again).toEqual(first);
    expect(kernels.map((k) => tf.getKernel(k, "wasm")?.kernelFunc)).toEqual(before);
  });

  it("keeps wasm's own kernel for each replaced one (never ours)", async () => {
    await selectBackend("wasm");
    for (const o of listKernelOverrides().filter(
      (k) => k.kind === "replace" && k.backend === "wasm",
    )) {
      const native = nativeWasmKernel(o.kernelName);
      expect(native?.backendName).toBe("wasm");
      expect(native?.kernelFunc).not.toBe(tf.getKernel(o.kernelName, "wasm")?.kernelFunc);
    }
  });

  it("leaves the cpu backend's kernels alone (only adds the project's own kernels)", async () => {
    await selectBackend("cpu");
    const all = listKernelOverrides().filter((o) => o.kind !== "gradient");
    const cpuSide = all.filter((o) => o.backend === "cpu");
    // New kernels with the project's own names, none replacing a tfjs one.
    expect(cpuSide.length).toBeGreaterThan(0);
    for (const o of cpuSide) {
      expect(o.kind).toBe("kernel");
      expect(o.kernelName.startsWith("SgdStudio")).toBe(true);
      expect(o.status).toBe("registered");
    }
    expect(all.every((o) => ["wasm", "webgpu", "cpu"].includes(o.backend))).toBe(true);
    const ours = all.filter((o) => o.backend === "wasm");
    for (const o of ours) {
      const cpu = tf.getKernel(o.kernelName, "cpu");
      const wasm = tf.getKernel(o.kernelName, "wasm");
      if (cpu) expect(cpu.kernelFunc).not.toBe(wasm?.kernelFunc);
    }
  });
});
