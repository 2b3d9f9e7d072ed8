// The wasm backend on several threads in Node: the choice of the count, the
// installed tfjs-backend-wasm still offering what the threaded factory relies
// on, the backend on 2 threads (XNNPACK and the kernel pool), results equal
// to one thread's, and processes that still end.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it, vi } from "vitest";
import { probeBackends, selectBackend } from "./backends.js";
import { batchNormTrain } from "./kernels/batchnorm-train.js";
import { axpby, sumSquaresAdd } from "./kernels/fused-update.js";
import { rand } from "./kernels/testing.js";
import { CHUNK_WORK, kernelPool, setChunkWork } from "./kernels/wasm-parallel.js";
import { numericPath } from "./numeric-path.js";
import {
  cpusFromCgroupMax,
  cpuTopology,
  parseThreads,
  physicalFromSiblings,
  pthreadWorkerUrl,
  resolveWasmThreads,
  TFJS_WASM_MAX_THREADS,
  threadedFiles,
  wasmThreadSupport,
  wasmThreadsState,
} from "./wasm-threads.js";
import { applyWasmThreadsSetting, WASM_THREADS_ENV } from "./wasm-threads-setting.js";

const execFileP = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const requireHere = createRequire(import.meta.url);

const machine = (physical: number, logical = physical) => ({ logical, physical, source: "test" });

describe("choosing the number of threads", () => {
  it("counts physical cores from the SMT sibling lists and a cgroup quota", () => {
    expect(physicalFromSiblings(["0,4\n", "1,5", "2,6", "3,7", "0,4", "1,5", "2,6", "3,7"])).toBe(
      4,
    );
    expect(physicalFromSiblings(["0\n", "1\n"])).toBe(2);
    expect(physicalFromSiblings(["0-1", "0-1", "2-3", "2-3"])).toBe(2);
    expect(cpusFromCgroupMax("max 100000\n")).toBeNull();
    expect(cpusFromCgroupMax("150000 100000")).toBe(1.5);
    expect(cpusFromCgroupMax("")).toBeNull();
    const here = cpuTopology();
    expect(here.physical).toBeGreaterThanOrEqual(1);
    expect(here.physical).toBeLessThanOrEqual(here.logical);
  });

  it("auto leaves one physical core for the host, at least 1, at most tfjs's 8", () => {
    expect(resolveWasmThreads(undefined, {}, machine(2))).toMatchObject({
      threads: 1,
      source: "auto",
      why: "auto: 2 physical cores, one left for the host",
    });
    expect(resolveWasmThreads(undefined, {}, machine(1)).threads).toBe(1);
    expect(resolveWasmThreads(undefined, {}, machine(4, 8)).threads).toBe(3);
    const big = resolveWasmThreads("auto", {}, machine(16, 32));
    expect(big.threads).toBe(TFJS_WASM_MAX_THREADS);
    expect(big.note).toMatch(/at most 8/);
  });

  it("an explicit count wins over the variable, which wins over auto; bad values warn", () => {
    const env = { [WASM_THREADS_ENV]: "3" };
    expect(resolveWasmThreads(2, env, machine(2))).toMatchObject({ threads: 2, source: "option" });
    expect(resolveWasmThreads(undefined, env, machine(8))).toMatchObject({
      threads: 3,
      source: "env",
    });
    expect(resolveWasmThreads(undefined, { [WASM_THREADS_ENV]: "auto" }, machine(8)).threads).toBe(
      7,
    );
    const bad = resolveWasmThreads(undefined, { [WASM_THREADS_ENV]: "lots" }, machine(4));
    expect(bad).toMatchObject({ threads: 3, source: "auto" });
    expect(bad.note).toMatch(/SGD_STUDIO_WASM_THREADS=lots is not/);
    expect(resolveWasmThreads(4, {}, machine(2)).note).toMatch(/oversubscribed/);
    expect(parseThreads(" 4 ")).toBe(4);
    expect(parseThreads("0")).toBeNull();
    expect(parseThreads("2.5")).toBeNull();
    expect(parseThreads("AUTO")).toBe("auto");
  });

  it("the wasmThreads setting goes into the environment the training worker inherits", () => {
    const env: Record<string, string | undefined> = {};
    expect(applyWasmThreadsSetting(3, env)).toBe(true);
    expect(env[WASM_THREADS_ENV]).toBe("3");
    applyWasmThreadsSetting("auto", env);
    expect(env[WASM_THREADS_ENV]).toBeUndefined();
  });
});

describe("the installed @tensorflow/tfjs-backend-wasm (fails when an upgrade changes what the threaded factory relies on)", () => {
  const files = threadedFiles();

  it("ships the threaded SIMD build, and this Node can run it", () => {
    expect(files).not.toBeNull();
    expect(wasmThreadSupport()).toEqual({ ok: true });
  });

  it("its glue exports the module factory, preallocates 8 workers and imports the core count", () => {
    const glue = readFileSync(files?.glue as string, "utf8");
    expect(typeof requireHere(files?.glue as string)).toBe("function");
    expect(glue).toContain('locateFile("tfjs-backend-wasm-threaded-simd.worker.js")');
    expect(glue).toContain("pthreadPoolSize=8");
    expect(glue).toContain('"emscripten_num_logical_cores":_emscripten_num_logical_cores');
    expect(glue).toContain('Module["mainScriptUrlOrBlob"]');
    expect(glue).toContain('Module["instantiateWasm"]');
  });

  it("its worker script is exported as text and runs the glue it is sent", () => {
    const { wasmWorkerContents } = requireHere(files?.workerModule as string) as {
      wasmWorkerContents: string;
    };
    expect(typeof wasmWorkerContents).toBe("string");
    expect(wasmWorkerContents).toContain('require("worker_threads")');
    expect(wasmWorkerContents).toContain("importScripts(e.data.urlOrBlob)");
    expect(wasmWorkerContents).toContain("WasmBackendModuleThreadedSimd(Module)");
    const url = pthreadWorkerUrl(files?.workerModule as string);
    expect(url.protocol).toBe("data:");
  });

  it("tfjs itself still keeps threads off in Node (else this module may be unnecessary)", async () => {
    await selectBackend("wasm", { wasmThreads: 1 });
    expect(await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")).toBe(false);
  });
});

/** Runs `f` on the wasm backend on `threads` threads; its outputs, read back. */
async function onThreads(threads: number, f: () => tf.Tensor | tf.Tensor[]) {
  await selectBackend("wasm", { wasmThreads: threads });
  expect(wasmThreadsState()).toMatchObject({ requested: threads, active: threads });
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const values = await Promise.all(list.map(async (t) => Float32Array.from(await t.data())));
  tf.dispose(list);
  return values;
}

/** The same float32 values, bit for bit. */
const sameBits = (a: Float32Array | undefined, b: Float32Array | undefined): boolean =>
  !!a && !!b && Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

const t4 = (shape: [number, number, number, number], seed: number) =>
  tf.tensor4d(
    rand(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );

/** The project's JS wasm kernels, exercised through tfjs ops and gradients. */
const KERNEL_CASES: { name: string; task: string | string[]; f: () => tf.Tensor[] }[] = [
  {
    name: "MaxPoolGrad (2x2 and overlapping 3x3 windows)",
    task: "maxPoolGradTask",
    f: () => {
      const x = t4([6, 9, 9, 16], 1);
      const g2 = tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(tf.maxPool(v, 2, 2, "valid"), 2)))(x);
      const g3 = tf.grad((v: tf.Tensor4D) => tf.sum(tf.maxPool(v, 3, 2, "same")))(x);
      return [g2, g3];
    },
  },
  {
    name: "Conv2DBackpropFilter and Conv2DBackpropInput (wide and one-channel inputs)",
    task: "im2colTask",
    f: () => {
      const out: tf.Tensor[] = [];
      for (const [cin, seed] of [
        [8, 2],
        [1, 3],
      ] as const) {
        const x = t4([6, 12, 12, cin], seed);
        const w = t4([3, 3, cin, 16], seed + 10);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same"))),
        )([x, w]);
        out.push(dx as tf.Tensor, dw as tf.Tensor);
      }
      return out;
    },
  },
  {
    name: "Sum and Mean over leading axes",
    task: "columnSumsTask",
    f: () => {
      const x = t4([6, 14, 14, 16], 4);
      return [tf.sum(x, [0, 1, 2]), tf.mean(x, [1, 2]), tf.sum(x, [0])];
    },
  },
  {
    name: "the batch norm gradient's per-channel sums",
    task: "batchNormGradSumsTask",
    f: () => {
      const x = t4([6, 10, 10, 12], 5);
      const scale = tf.tensor1d(rand(12, 6));
      const offset = tf.tensor1d(rand(12, 7));
      const [gx, gs, go] = tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        const y = tf.batchNorm(a, mean, variance, o as tf.Tensor1D, s as tf.Tensor1D, 1e-3);
        return tf.sum(tf.square(y));
      })([x, scale, offset]);
      return [gx as tf.Tensor, gs as tf.Tensor, go as tf.Tensor];
    },
  },
  {
    name: "batch norm in training as one op: moments, FusedBatchNorm, the input gradient (channels a multiple of 4: SIMD; and not)",
    task: ["shiftedMomentsTask", "centredScaleTask", "channelAffine2Task", "batchNormGradSumsTask"],
    f: () => {
      const out: tf.Tensor[] = [];
      for (const [c, seed] of [
        [12, 20],
        [6, 21],
      ] as const) {
        const x = t4([6, 10, 10, c], seed);
        const gamma = tf.tensor1d(rand(c, seed + 1).map((v) => 1 + v));
        const beta = tf.tensor1d(rand(c, seed + 2));
        const w = t4([6, 10, 10, c], seed + 3);
        const { y, mean, variance } = batchNormTrain(x, gamma, beta, 1e-3);
        const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(batchNormTrain(a, g, b, 1e-3).y, w)),
        )([x, gamma, beta]);
        out.push(y, mean, variance, ...grads);
      }
      return out;
    },
  },
  {
    name: "ReLU's gradient (a size that is not a multiple of 4)",
    task: "reluGradTask",
    f: () => {
      const x = t4([6, 10, 10, 13], 22);
      const w = t4([6, 10, 10, 13], 23);
      return [tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), w)))(x)];
    },
  },
  {
    name: "Relu and a bias Add (a size that is not a multiple of 4; channels that are and are not)",
    task: ["reluTask", "centredScaleTask"],
    f: () => {
      const x = t4([6, 10, 10, 13], 26);
      const y = t4([6, 10, 10, 12], 27);
      return [
        tf.relu(x),
        tf.add(x, tf.tensor1d(rand(13, 28))),
        tf.add(y, tf.tensor1d(rand(12, 29))),
      ];
    },
  },
  {
    name: "the optimizer's a * x + b * y and the squared gradient norm",
    task: ["axpbyTask", "sumSquaresTask"],
    f: () => {
      const x = tf.tensor1d(rand(1001, 24));
      const y = tf.tensor1d(rand(1001, 25));
      return [axpby(x, y, 0.9, -0.01), sumSquaresAdd(tf.scalar(0.5), x)];
    },
  },
  {
    name: "BatchMatMul with transposed operands, and our product",
    task: ["transposeTask", "gemmTask"],
    f: () => {
      const a = tf.tensor2d(rand(300 * 40, 8), [300, 40]);
      const b = tf.tensor2d(rand(300 * 24, 9), [300, 24]);
      const c = tf.tensor2d(rand(24 * 40, 10), [24, 40]);
      return [
        tf.matMul(a, b, true, false),
        tf.matMul(b, c, false, false),
        tf.matMul(a, c, false, true),
        tf.matMul(c, a, false, true), // a wide right operand: (a x c^T)^T
      ];
    },
  },
  {
    name: "a dense layer (_FusedMatMul + bias + ReLU) and small broadcasting Sub / Multiply / RealDiv / Neg",
    task: ["gemmTask", "centredScaleTask", "reluTask"],
    f: () => {
      const x = tf.tensor2d(rand(128 * 72, 30), [128, 72]);
      const w = tf.tensor2d(rand(72 * 40, 31), [72, 40]);
      const bias = tf.tensor1d(rand(40, 32));
      const y = tf.fused.matMul({ a: x, b: w, bias, activation: "relu" });
      const col = tf.tensor2d(rand(128, 33), [128, 1]);
      return [y, tf.sub(y, col), tf.mul(col, y), tf.div(y, col), tf.neg(y)];
    },
  },
];

describe("the wasm backend on 2 threads", () => {
  afterAll(async () => {
    setChunkWork(CHUNK_WORK);
    await selectBackend("cpu");
  });

  it("starts tfjs's threaded build on 2 threads and the kernel pool beside it", async () => {
    const sel = await selectBackend("wasm", { wasmThreads: 2 });
    expect(wasmThreadsState()).toEqual({ requested: 2, active: 2 });
    expect(sel.summary).toMatch(/Training backend: wasm \(2 threads\)/);
    const backend = tf.engine().backend as unknown as { wasm: { HEAPU8: Uint8Array } };
    expect(backend.wasm.HEAPU8.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(kernelPool(tf.engine().backend)?.threads).toBe(2);
    const path = numericPath(sel);
    expect(path.wasmThreads).toBe(2);
    // Emscripten's rethrowing process handlers (they print its minified source with any error) are gone.
    const glueHandlers = () =>
      [
        ...process.listeners("uncaughtException"),
        ...process.listeners("unhandledRejection"),
      ].filter((l) => /ExitStatus|throw reason/.test(String(l)));
    expect(glueHandlers()).toEqual([]);
    // Back to one thread: tfjs's own single-threaded build, no pool.
    const one = await selectBackend("wasm", { wasmThreads: 1 });
    expect(wasmThreadsState()).toEqual({ requested: 1, active: 1 });
    expect(kernelPool(tf.engine().backend)).toBeNull();
    expect(numericPath(one).wasmThreads).toBe(1);
    expect(glueHandlers()).toEqual([]);
    expect(numericPath(await selectBackend("cpu")).wasmThreads).toBe("unused");
  });

  it("XNNPACK's convolution and matmul give one thread's results, bit for bit", async () => {
    const f = () => {
      const x = t4([8, 16, 16, 8], 11);
      const w = t4([3, 3, 8, 32], 12);
      const a = tf.tensor2d(rand(256 * 300, 13), [256, 300]);
      const b = tf.tensor2d(rand(300 * 64, 14), [300, 64]);
      return [tf.conv2d(x, w, 1, "same"), tf.matMul(a, b), tf.relu(x), tf.mul(x, x)];
    };
    const two = await onThreads(2, f);
    const one = await onThreads(1, f);
    for (let i = 0; i < one.length; i++) {
      expect(sameBits(two[i], one[i])).toBe(true);
    }
  });

  for (const c of KERNEL_CASES) {
    it(`${c.name}: split over the pool's threads, bit for bit one thread's result`, async () => {
      setChunkWork(64);
      const two = await onThreads(2, c.f);
      for (const task of typeof c.task === "string" ? [c.task] : c.task) {
        const dispatched = kernelPool(tf.engine().backend)?.dispatches.get(task) ?? 0;
        expect(dispatched, `${task} ran on 2 threads`).toBeGreaterThan(0);
      }
      const one = await onThreads(1, c.f);
      const three = await onThreads(3, c.f);
      for (let i = 0; i < one.length; i++) {
        // Chunks depend on the work, not the threads; XNNPACK splits outputs, not sums.
        expect(sameBits(two[i], one[i]), `output ${i} on 2 threads`).toBe(true);
        expect(sameBits(three[i], one[i]), `output ${i} on 3 threads`).toBe(true);
      }
    });
  }

  it("leaks no tensors and no wasm memory across thread counts", async () => {
    setChunkWork(64);
    for (const threads of [2, 1]) {
      await selectBackend("wasm", { wasmThreads: threads });
      const backend = tf.engine().backend;
      const before = { ...tf.memory(), dataIds: backend.numDataIds() };
      for (const c of KERNEL_CASES) tf.dispose(tf.tidy(c.f));
      const after = tf.memory();
      expect(after.numTensors).toBe(before.numTensors);
      expect(after.numBytes).toBe(before.numBytes);
      expect(backend.numDataIds()).toBe(before.dataIds);
    }
  });
});

describe("a process without SharedArrayBuffer", () => {
  afterAll(async () => {
    vi.unstubAllGlobals();
    await selectBackend("cpu");
  });

  it("runs wasm on one thread, and doctor and the selection say why", async () => {
    vi.stubGlobal("SharedArrayBuffer", undefined);
    expect(wasmThreadSupport()).toEqual({
      ok: false,
      reason: "SharedArrayBuffer is not available in this process",
    });
    const sel = await selectBackend("wasm", { wasmThreads: 2 });
    expect(wasmThreadsState()).toMatchObject({ requested: 2, active: 1 });
    expect(wasmThreadsState().note).toMatch(/one thread: SharedArrayBuffer is not available/);
    expect(sel.summary).toMatch(/wasm \(1 thread; one thread: SharedArrayBuffer/);
    expect(numericPath(sel).wasmThreads).toBe(1);
    const [probe] = await probeBackends({ only: ["wasm"] });
    expect(probe?.available).toBe(true);
    expect(probe?.details).toMatchObject({ threads: 1, threadSupport: false });
    expect(probe?.details.threadsNote).toMatch(/SharedArrayBuffer is not available/);
    const out = tf.tidy(() => tf.sum(tf.mul(tf.ones([4, 4]), 2)));
    expect(await out.data()).toEqual(new Float32Array([32]));
    out.dispose();
  });
});

describe("processes that ran the wasm backend on 2 threads", () => {
  it("end by themselves: neither the pthreads nor the kernel pool keep them alive", async () => {
    const script = `
      import * as tf from "@tensorflow/tfjs-core";
      import { selectBackend } from "./core/engine/backends.ts";
      import { wasmThreadsState } from "./core/engine/wasm-threads.ts";
      const sel = await selectBackend("wasm", { wasmThreads: 2 });
      const x = tf.randomNormal([4, 28, 28, 8]);
      const g = tf.grad((v) => tf.sum(tf.maxPool(v, 2, 2, "valid")))(x);
      await g.data();
      console.log(JSON.stringify({ summary: sel.summary, state: wasmThreadsState() }));
    `;
    const t0 = Date.now();
    const { stdout } = await execFileP(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { cwd: root, timeout: 60_000 },
    );
    const seconds = (Date.now() - t0) / 1000;
    const last = JSON.parse(stdout.trim().split("\n").pop() as string);
    expect(last.state).toEqual({ requested: 2, active: 2 });
    expect(last.summary).toMatch(/2 threads/);
    expect(seconds).toBeLessThan(45);
  }, 90_000);
});
