// The SIMD loops (wasm-simd.ts) against the tasks' JS fallbacks, bit for
// bit, and ReLU's one-pass gradient on wasm against tfjs's own gradient.
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { RELU_GRAD } from "./relu-grad.js";
import { cpuAndWasm, kernelsRun, maxRelError, nativeCallsOf, rand } from "./testing.js";
import {
  axpbyTask,
  centredScaleTask,
  channelAffine2Task,
  reluGradTask,
  reluTask,
  sumSquaresTask,
  type Task,
  transposeTask,
} from "./wasm-parallel-tasks.js";
import { simdModuleBytes, simdOn, type WasmMemory } from "./wasm-simd.js";

const WA = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
      validate(bytes: Uint8Array): boolean;
    };
  }
).WebAssembly;

/** A heap with `arrays` at 64-byte-aligned offsets + 4 bytes (unaligned for SIMD); their offsets. */
function layout(memory: WasmMemory, arrays: Float32Array[]): number[] {
  const offsets: number[] = [];
  let at = 4;
  for (const a of arrays) {
    new Float32Array(memory.buffer, at, a.length).set(a);
    offsets.push(at);
    at += Math.ceil((a.length * 4 + 4) / 64) * 64 + 4;
  }
  return offsets;
}

/** Runs `task` over all its parts, with the SIMD loops or without; returns `n` floats at `out`. */
function runAll(
  memory: WasmMemory,
  task: Task,
  args: number[],
  parts: number,
  simd: boolean,
  out: number,
  n: number,
): Float32Array {
  const a = Float64Array.from(args);
  for (let p = 0; p < parts; p++) {
    task(memory.buffer, new ArrayBuffer(0), a, p, parts, simd ? simdOn(memory) : null);
  }
  return Float32Array.from(new Float32Array(memory.buffer, out, n));
}

const sameBits = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

describe("the SIMD module", () => {
  it("is valid WebAssembly for a shared and for a plain memory", () => {
    expect(WA.validate(simdModuleBytes(false))).toBe(true);
    expect(WA.validate(simdModuleBytes(true))).toBe(true);
  });

  for (const shared of [false, true]) {
    const memory = shared
      ? new WA.Memory({ initial: 16, maximum: 64, shared: true })
      : new WA.Memory({ initial: 16 });
    const kind = shared ? "shared" : "plain";

    it(`affine2 and centredScale equal the JS fallbacks bit for bit (${kind} memory)`, () => {
      const rows = 203;
      const c = 24;
      const n = rows * c;
      const coef = rand(3 * c, 3).map((v, i) => (i < c ? 1 + v : v * 3));
      const [a, b, k, out] = layout(memory, [rand(n, 1), rand(n, 2), coef, new Float32Array(n)]);
      for (const parts of [1, 5]) {
        const args = [a, b, k, out, rows, c] as number[];
        const js = runAll(memory, channelAffine2Task, args, parts, false, out as number, n);
        const wasm = runAll(memory, channelAffine2Task, args, parts, true, out as number, n);
        expect(js.some((v) => v !== 0)).toBe(true);
        expect(sameBits(wasm, js)).toBe(true);
        const args2 = [a, k, out, rows, c] as number[];
        const js2 = runAll(memory, centredScaleTask, args2, parts, false, out as number, n);
        const wasm2 = runAll(memory, centredScaleTask, args2, parts, true, out as number, n);
        expect(sameBits(wasm2, js2)).toBe(true);
        expect(sameBits(wasm2, js)).toBe(false);
      }
    });

    it(`reluGrad and axpby equal the JS fallbacks bit for bit, tails included (${kind} memory)`, () => {
      const n = 4099;
      const x = rand(n, 5);
      x[7] = 0;
      x[8] = -0;
      const [dy, xs, y, out] = layout(memory, [rand(n, 4), x, rand(n, 6), new Float32Array(n)]);
      for (const parts of [1, 3]) {
        const r = [dy, xs, out, n] as number[];
        const js = runAll(memory, reluGradTask, r, parts, false, out as number, n);
        const wasm = runAll(memory, reluGradTask, r, parts, true, out as number, n);
        expect(wasm).toEqual(js);
        expect(wasm[7]).toBe(0);
        const ab = [xs, y, out, n, Math.fround(0.9), Math.fround(-0.013)] as number[];
        const js2 = runAll(memory, axpbyTask, ab, parts, false, out as number, n);
        const wasm2 = runAll(memory, axpbyTask, ab, parts, true, out as number, n);
        expect(sameBits(wasm2, js2)).toBe(true);
        const js3 = runAll(
          memory,
          reluTask,
          [xs, out, n] as number[],
          parts,
          false,
          out as number,
          n,
        );
        const wasm3 = runAll(
          memory,
          reluTask,
          [xs, out, n] as number[],
          parts,
          true,
          out as number,
          n,
        );
        expect(sameBits(wasm3, js3)).toBe(true);
        expect(wasm3.every((v) => v >= 0)).toBe(true);
      }
    });

    it(`sumSquares gives the JS loop's float64 partials bit for bit, tails included (${kind} memory)`, () => {
      for (const n of [4099, 200_704, 3]) {
        const x = rand(n, n).map((v) => v * 1e3);
        const [xs] = layout(memory, [x]);
        for (const parts of [1, 3]) {
          const sums = (simd: boolean) => {
            const scratch = new ArrayBuffer(8 * parts);
            const a = Float64Array.from([xs as number, n]);
            for (let p = 0; p < parts; p++) {
              sumSquaresTask(memory.buffer, scratch, a, p, parts, simd ? simdOn(memory) : null);
            }
            return new Float64Array(scratch);
          };
          const js = sums(false);
          const wasm = sums(true);
          expect([...wasm]).toEqual([...js]);
          let exact = 0;
          for (const v of x) exact += v * v;
          expect(Math.abs(js.reduce((s, v) => s + v, 0) - exact) / exact).toBeLessThan(1e-12);
        }
      }
    });

    it(`transpose equals x^T for whole and ragged shapes, in row blocks and per matrix (${kind} memory)`, () => {
      const shapes: [number, number, number][] = [
        [1, 4, 4],
        [1, 128, 784],
        [1, 256, 128],
        [3, 37, 70], // ragged rows and columns, several matrices
        [2, 3, 2], // no full 4 x 4 block
        [1, 197, 33],
      ];
      for (const [batch, rows, cols] of shapes) {
        const n = batch * rows * cols;
        const x = rand(n, rows + cols);
        const [xs, out] = layout(memory, [x, new Float32Array(n)]);
        const want = new Float32Array(n);
        for (let b = 0; b < batch; b++)
          for (let i = 0; i < rows; i++)
            for (let j = 0; j < cols; j++)
              want[(b * n) / batch + j * rows + i] = x[(b * n) / batch + i * cols + j] as number;
        // Parts over matrices (1 part per matrix or fewer) and over 32-row blocks (more parts).
        for (const parts of [1, batch, 5]) {
          const args = [xs, out, batch, rows, cols] as number[];
          const wasm = runAll(memory, transposeTask, args, parts, true, out as number, n);
          expect(sameBits(wasm, want), `[${batch},${rows},${cols}] in ${parts} parts`).toBe(true);
        }
      }
    });
  }
});

describe("Relu and a bias Add on wasm", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("equal tfjs's cpu kernels (NaN kept), through the pool's kernels", async () => {
    for (const shape of [
      [3, 5, 7],
      [128, 256],
      [16, 28, 28, 8],
    ]) {
      const n = shape.reduce((p, q) => p * q, 1);
      const c = shape[shape.length - 1] as number;
      const xv = rand(n, 11);
      xv[1] = Number.NaN;
      const bv = rand(c, 12);
      const f = () => {
        const x = tf.tensor(xv, shape);
        return [tf.relu(x), tf.add(x, tf.tensor1d(bv)), tf.add(x, tf.tensor(bv, [1, c]))];
      };
      const { cpu, wasm } = await cpuAndWasm(f);
      for (const [i, v] of wasm.values.entries()) {
        expect(Number.isNaN(v[1])).toBe(true);
        const ref = cpu.values[i] as Float32Array;
        expect(v.every((x, j) => Object.is(x, ref[j]) || x === ref[j])).toBe(true);
      }
      await selectBackend("wasm");
      const calls = await nativeCallsOf(["Relu", "Add"], async () => {
        tf.dispose(tf.tidy(f));
      });
      expect(calls).toEqual({ Relu: 0, Add: 0 });
    }
  });

  it("hands large non-bias Adds and int32 to wasm's own kernels (small ones: a JS loop)", async () => {
    const f = () => [
      tf.add(tf.tensor2d(rand(12, 1), [3, 4]), tf.tensor2d(rand(3, 2), [3, 1])),
      tf.add(tf.tensor1d(rand(4, 3)), tf.tensor2d(rand(12, 4), [3, 4])),
      tf.add(
        tf.tensor2d(rand(2 ** 15, 5), [2 ** 14, 2]),
        tf.tensor2d(rand(2 ** 14, 6), [2 ** 14, 1]),
      ),
      tf.add(tf.tensor2d([1, 2, 3, 4], [2, 2], "int32"), tf.tensor1d([5, 6], "int32")),
      tf.relu(tf.tensor1d([-1, 2], "int32")),
    ];
    const { cpu, wasm } = await cpuAndWasm(f);
    expect(wasm.values).toEqual(cpu.values);
    await selectBackend("wasm");
    const calls = await nativeCallsOf(["Relu", "Add"], async () => {
      tf.dispose(tf.tidy(f));
    });
    expect(calls).toEqual({ Relu: 1, Add: 2 });
  });
});

describe("ReLU's gradient on wasm", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("equals tfjs's dy * step(x) (computed on cpu), in one kernel", async () => {
    for (const shape of [
      [3, 5, 7],
      [16, 28, 28, 8],
    ]) {
      const n = shape.reduce((p, q) => p * q, 1);
      const xv = rand(n, 9);
      xv[0] = 0;
      const dv = rand(n, 10);
      const f = () => {
        const x = tf.tensor(xv, shape);
        const w = tf.tensor(dv, shape);
        return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), w)))(x);
      };
      const { cpu, wasm } = await cpuAndWasm(f);
      expect(maxRelError(wasm, cpu)).toBe(0);
      await selectBackend("wasm");
      const names = await kernelsRun(f);
      expect(names).toContain(RELU_GRAD);
      expect(names).not.toContain("Step");
    }
  });
});
