import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import {
  BACKEND_LADDER,
  BackendUnavailableError,
  doctorReport,
  probeBackends,
  selectBackend,
} from "./backends.js";
import { type CommandResult, emptySystem, nodeSystem, type SystemAccess } from "./system.js";

const SMI_QUERY = "NVIDIA H200, 550.54.15, 143771, 9.0\n";
const SMI_PLAIN = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |";
const LDCONFIG = "\tlibcudnn.so.8 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.8\n";
const TF_NO_CUDA = [
  "W dso_loader.cc:64] Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory; LD_LIBRARY_PATH: /x",
  "W dso_loader.cc:64] Could not load dynamic library 'libcublas.so.11'; dlerror: libcublas.so.11: cannot open shared object file: No such file or directory",
  "W gpu_device.cc:1850] Cannot dlopen some GPU libraries. Skipping registering GPU devices...",
].join("\n");
const TF_GPU =
  "I gpu_device.cc:1616] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 139264 MB memory:  -> device: 0, name: NVIDIA H200, pci bus id: 0000:19:00.0, compute capability: 9.0";

/** A machine with an H200 and tfjs-node-gpu installed; `child` is what the probe process prints. */
function gpuMachine(child: CommandResult, opts: { nvidia?: boolean } = {}): SystemAccess {
  return emptySystem({
    resolve: (s) =>
      s === "@tensorflow/tfjs-node-gpu"
        ? "/app/node_modules/@tensorflow/tfjs-node-gpu/dist/index.js"
        : null,
    run: async (cmd, args) => {
      if (cmd === "nvidia-smi") {
        if (opts.nvidia === false) return { code: null, stdout: "", stderr: "", error: "ENOENT" };
        return { code: 0, stdout: args.length ? SMI_QUERY : SMI_PLAIN, stderr: "" };
      }
      if (cmd.endsWith("ldconfig")) return { code: 0, stdout: LDCONFIG, stderr: "" };
      if (cmd === process.execPath) return child;
      return { code: null, stdout: "", stderr: "", error: "ENOENT" };
    },
  });
}

const childOk = (stderr: string): CommandResult => ({
  code: 0,
  stdout: `some log\n${JSON.stringify({ ok: true, backend: "tensorflow" })}`,
  stderr,
});

describe("tensorflow-gpu probe (simulated machines)", () => {
  it("explains a GPU machine where TensorFlow cannot load CUDA 11 libraries", async () => {
    const [p] = await probeBackends({
      system: gpuMachine(childOk(TF_NO_CUDA)),
      only: ["tensorflow-gpu"],
    });
    expect(p?.available).toBe(false);
    expect(p?.autoSelect).toBe(false);
    expect(p?.reason).toMatch(/created no GPU device/);
    expect(p?.reason).toMatch(/libcudart\.so\.11\.0, libcublas\.so\.11/);
    expect(p?.fix).toMatch(/NVIDIA H200 \(driver 550\.54\.15, supports CUDA up to 12\.4\)/);
    expect(p?.fix).toMatch(/CUDA 11\.2 and cuDNN 8\.1/);
    expect(p?.fix).toMatch(/JIT-compiles/); // compute capability 9.0
    expect(p?.fix).toMatch(/Missing now: libcudart\.so\.11\.0,.*libcusparse\.so\.11\./);
    expect(p?.fix).not.toMatch(/Missing now:.*libcudnn\.so\.8/);
    const nvidia = p?.details.nvidia as { gpus: { name: string }[] };
    expect(nvidia.gpus[0]?.name).toBe("NVIDIA H200");
  });

  it("is available when TensorFlow creates a GPU device", async () => {
    const [p] = await probeBackends({
      system: gpuMachine(childOk(TF_GPU)),
      only: ["tensorflow-gpu"],
    });
    expect(p?.available).toBe(true);
    expect(p?.autoSelect).toBe(true);
    expect(p?.tfjsName).toBe("tensorflow");
    expect(p?.details.gpuDevices).toEqual([
      { index: 0, name: "NVIDIA H200", memoryMB: 139264, computeCapability: "9.0" },
    ]);
  });

  it("names the shared library when the addon cannot be loaded", async () => {
    const child: CommandResult = {
      code: 0,
      stdout: `\n${JSON.stringify({
        ok: false,
        error:
          "Error: libtensorflow.so.2: cannot open shared object file: No such file or directory\n    at Module._extensions..node",
      })}`,
      stderr: "",
    };
    const [p] = await probeBackends({ system: gpuMachine(child), only: ["tensorflow-gpu"] });
    expect(p?.available).toBe(false);
    expect(p?.reason).toBe(
      "@tensorflow/tfjs-node-gpu is installed but cannot load libtensorflow.so.2",
    );
    expect(p?.fix).toMatch(/^Install the library that provides libtensorflow\.so\.2/);
  });

  it("reports an addon that was never built", async () => {
    const child: CommandResult = {
      code: 0,
      stdout: `\n${JSON.stringify({
        ok: false,
        error:
          "Error: Cannot find module '/app/node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v8/tfjs_binding.node'",
      })}`,
      stderr: "",
    };
    const [p] = await probeBackends({ system: gpuMachine(child), only: ["tensorflow-gpu"] });
    expect(p?.reason).toMatch(/native addon \(tfjs_binding\.node\) was never built/);
  });

  it("survives a probe process that crashes", async () => {
    const child: CommandResult = {
      code: null,
      stdout: "",
      stderr: "Segmentation fault\n",
      error: "SIGSEGV",
    };
    const [p] = await probeBackends({ system: gpuMachine(child), only: ["tensorflow-gpu"] });
    expect(p?.available).toBe(false);
    expect(p?.reason).toMatch(/probe process failed \(SIGSEGV\): Segmentation fault/);
  });

  it("says when the package and the GPU are both missing", async () => {
    const [p] = await probeBackends({ system: emptySystem(), only: ["tensorflow-gpu"] });
    expect(p?.reason).toBe("@tensorflow/tfjs-node-gpu is not installed");
    expect(p?.fix).toMatch(/npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/);
    expect(p?.fix).toMatch(/No NVIDIA GPU found \(nvidia-smi not found/);
    expect(p?.fix).toMatch(/CUDA 11\.2 and cuDNN 8\.1/);
  });
});

describe("tfjs-node probe in a real child process (stand-in packages)", () => {
  const req = createRequire(import.meta.url);
  const dir = mkdtempSync(path.join(tmpdir(), "sgd-fake-tfjs-node-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** A CommonJS stand-in for tfjs-node-gpu: tfjs-core + cpu, printing `stderr`, or throwing `error`. */
  function standIn(name: string, body: { stderr?: string; error?: string }): SystemAccess {
    const file = path.join(dir, `${name}.cjs`);
    const lines = body.error
      ? [`throw new Error(${JSON.stringify(body.error)});`]
      : [
          `const tf = require(${JSON.stringify(req.resolve("@tensorflow/tfjs-core"))});`,
          `require(${JSON.stringify(req.resolve("@tensorflow/tfjs-backend-cpu"))});`,
          `tf.env().set("IS_TEST", true);`,
          `process.stderr.write(${JSON.stringify(body.stderr ?? "")});`,
          "module.exports = tf;",
        ];
    writeFileSync(file, lines.join("\n"));
    return {
      ...nodeSystem,
      resolve: (s) => (s === "@tensorflow/tfjs-node-gpu" ? file : null),
      run: async (cmd, args, opts) =>
        cmd === "nvidia-smi"
          ? { code: 0, stdout: args.length ? SMI_QUERY : SMI_PLAIN, stderr: "" }
          : nodeSystem.run(cmd, args, opts),
    };
  }

  it("loads the package, checks a matmul and reads TensorFlow's stderr", async () => {
    const [gpu] = await probeBackends({
      system: standIn("gpu", { stderr: TF_GPU }),
      only: ["tensorflow-gpu"],
    });
    expect(gpu?.reason).toBeUndefined();
    expect(gpu?.available).toBe(true);
    const [cpuOnly] = await probeBackends({
      system: standIn("nogpu", { stderr: TF_NO_CUDA }),
      only: ["tensorflow-gpu"],
    });
    expect(cpuOnly?.available).toBe(false);
    expect(cpuOnly?.reason).toMatch(/created no GPU device.*libcudart\.so\.11\.0/);
  });

  it("reports the load error of the package", async () => {
    const sys = standIn("broken", {
      error: "libtensorflow.so.2: cannot open shared object file: No such file or directory",
    });
    const [p] = await probeBackends({ system: sys, only: ["tensorflow-gpu"] });
    expect(p?.available).toBe(false);
    expect(p?.reason).toBe(
      "@tensorflow/tfjs-node-gpu is installed but cannot load libtensorflow.so.2",
    );
  });
});

describe("other rungs (simulated empty machine)", () => {
  it("reports missing packages with an install command", async () => {
    const probes = await probeBackends({
      system: emptySystem(),
      only: ["tensorflow", "webgpu", "wasm"],
    });
    expect(probes.map((p) => p.name)).toEqual(["webgpu", "tensorflow", "wasm"]);
    for (const p of probes) {
      expect(p.available).toBe(false);
      expect(p.reason).toMatch(/is not installed$/);
      expect(p.fix).toMatch(/^npm install /);
    }
  });
});

describe("this machine", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("probes every rung, best first; cpu and wasm are always available", async () => {
    const probes = await probeBackends({ only: ["tensorflow-gpu", "tensorflow", "wasm", "cpu"] });
    expect(probes.map((p) => p.name)).toEqual(["tensorflow-gpu", "tensorflow", "wasm", "cpu"]);
    const byName = Object.fromEntries(probes.map((p) => [p.name, p]));
    expect(byName.cpu?.available).toBe(true);
    expect(byName.wasm?.available).toBe(true);
    expect(byName.wasm?.details.simd).toBe(true);
    for (const p of probes.filter((q) => !q.available)) {
      expect(p.reason).toBeTruthy();
      expect(p.fix).toBeTruthy();
    }
  });

  it("selects a named backend and registers the kernel overrides", async () => {
    const sel = await selectBackend("wasm");
    expect(sel.name).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    // Every override in core/engine/kernels/index.ts is in effect, except the
    // webgpu replacement, which waits until that backend is loaded here.
    const status = (o: { backend: string; kind: string }) =>
      o.backend === "webgpu" && o.kind === "replace" ? "pending" : "registered";
    expect(sel.overrides.length).toBeGreaterThan(20);
    for (const o of sel.overrides)
      expect([o.kernelName, o.backend, o.status]).toEqual([o.kernelName, o.backend, status(o)]);
    const wasmReplaced = sel.overrides.filter((o) => o.kind === "replace" && o.backend === "wasm");
    expect(wasmReplaced.map((o) => o.kernelName).sort()).toEqual([
      "Add",
      "BatchMatMul",
      "Cast",
      "Conv2DBackpropInput",
      "FusedBatchNorm",
      "Identity",
      "MaxPoolGrad",
      "Mean",
      "Multiply",
      "Neg",
      "RealDiv",
      "Relu",
      "Sub",
      "Sum",
      "Tile",
      "_FusedMatMul",
    ]);
    const cpu = await selectBackend("cpu");
    expect(cpu.tfjsBackend).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
  });

  it("rejects unknown names, listing the ladder", async () => {
    await expect(selectBackend("cuda")).rejects.toThrow(
      'Unknown backend "cuda". Backends, best first: torch, tensorflow-gpu, webgpu, tensorflow, wasm, cpu.',
    );
  });

  it("explains an unavailable named backend and lists the available ones", async () => {
    const err = await selectBackend("tensorflow-gpu", { system: emptySystem() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendUnavailableError);
    const msg = (err as Error).message;
    expect(msg).toMatch(
      /^Backend "tensorflow-gpu" cannot be used: @tensorflow\/tfjs-node-gpu is not installed\./,
    );
    expect(msg).toMatch(/Fix: npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/);
    expect(msg).toMatch(/Available here: cpu\.$/);
    // Every rung, the torch engine's included (no Python with torch on this empty system).
    expect((err as BackendUnavailableError).probes).toHaveLength(6);
  });

  it("automatic selection takes the best available rung that allows it", async () => {
    const sel = await selectBackend();
    const first = sel.probes.find((p) => p.available && p.autoSelect);
    expect(sel.name).toBe(first?.name);
    expect(sel.probes[sel.probes.length - 1]?.name).toBe(sel.name);
    expect(tf.getBackend()).toBe(first?.tfjsName);
    for (const p of sel.probes.slice(0, -1)) expect(p.available && p.autoSelect).toBe(false);
    expect(sel.summary).toMatch(new RegExp(`^Training backend: ${sel.name}`));
  });

  it("writes a doctor report (JSON only; the text is the CLI's) covering the whole ladder", async () => {
    const report = await doctorReport();
    expect(Object.keys(report)).toEqual(["json"]);
    const { json } = report;
    expect(json.backends.map((b) => b.name)).toEqual([...BACKEND_LADDER]);
    expect(json.recommended).toBe(json.backends.find((b) => b.available && b.autoSelect)?.name);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(json.kernelOverrides).toContainEqual(
      expect.objectContaining({
        kernelName: "Conv2DBackpropFilter",
        kind: "kernel",
        backend: "wasm",
        status: "registered",
      }),
    );
    expect(Object.keys(json.env)).toContain("LD_LIBRARY_PATH");
  });
});
