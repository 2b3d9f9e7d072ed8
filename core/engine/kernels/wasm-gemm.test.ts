/**
 * The wasm backend's own products (issue 19): wasm-simd.ts's gemm8 / gemm4 /
 * gemm1 through wasm-parallel-tasks.ts's gemmTask, BatchMatMul and
 * _FusedMatMul on them, and the small elementwise ops run in JS. The
 * thread-count checks (1, 2 and 3 threads bit for bit) are in
 * ../wasm-threads.test.ts's KERNEL_CASES.
 */
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { selectBackend } from "../backends.js";
import { cpuAndWasm, maxRelError, nativeCallsOf, rand, size } from "./testing.js";
import { setOwnProducts } from "./wasm-batch-matmul.js";
import { gemmBlockJs, gemmTask } from "./wasm-parallel-tasks.js";
import { simdOn } from "./wasm-simd.js";

const sameBits = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );

describe("gemmTask (SIMD blocks, scalar edges)", () => {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const simd = simdOn(memory);
  const shapes: [number, number, number][] = [
    [4, 1, 8],
    [7, 5, 13],
    [13, 33, 70],
    [12, 17, 68], // >= 64 columns: parts over column blocks, with a 4-wide and a ragged edge
    [128, 128, 10], // the mlp's last layer
    [1, 9, 3],
    [3, 2, 100],
  ];
  for (const [m, k, n] of shapes) {
    it(`[${m},${k}] x [${k},${n}]: the JS loop's bits, in any number of parts, A read transposed too`, () => {
      const bo = 4 * m * k;
      const co = bo + 4 * k * n;
      new Float32Array(memory.buffer, 0, m * k).set(rand(m * k, m + k));
      new Float32Array(memory.buffer, bo, k * n).set(rand(k * n, n + 3));
      const C = new Float32Array(memory.buffer, co, m * n);
      const ref = new Float32Array(m * n);
      gemmBlockJs(
        new Float32Array(memory.buffer, 0, m * k),
        new Float32Array(memory.buffer, bo, k * n),
        ref,
        k,
        n,
        0,
        m,
        0,
        n,
      );
      // Against float64 sums: the order of additions is the only rounding difference.
      const A = new Float32Array(memory.buffer, 0, m * k);
      const B = new Float32Array(memory.buffer, bo, k * n);
      for (let i = 0; i < m; i += Math.max(1, m >> 2)) {
        for (let j = 0; j < n; j += Math.max(1, n >> 2)) {
          let s = 0;
          for (let p = 0; p < k; p++) s += (A[i * k + p] as number) * (B[p * n + j] as number);
          expect(Math.abs((ref[i * n + j] as number) - s)).toBeLessThan(1e-5 * k);
        }
      }
      const args = Float64Array.from([0, bo, co, m, k, n]);
      for (const parts of [1, 3, 7]) {
        C.fill(Number.NaN);
        for (let p = 0; p < parts; p++)
          gemmTask(memory.buffer, new ArrayBuffer(0), args, p, parts, simd);
        expect(sameBits(C, ref), `SIMD in ${parts} parts`).toBe(true);
        C.fill(Number.NaN);
        for (let p = 0; p < parts; p++)
          gemmTask(memory.buffer, new ArrayBuffer(0), args, p, parts, null);
        expect(sameBits(C, ref), `JS in ${parts} parts`).toBe(true);
      }
      // A stored transposed ([k, m], as x in x^T dy) and read in place: the same bits.
      const to = co + 4 * m * n;
      const At = new Float32Array(memory.buffer, to, m * k);
      for (let i = 0; i < m; i++)
        for (let p = 0; p < k; p++) At[p * m + i] = A[i * k + p] as number;
      const targs = Float64Array.from([to, bo, co, m, k, n, 1]);
      for (const [parts, withSimd] of [
        [1, simd],
        [3, simd],
        [7, null],
      ] as const) {
        C.fill(Number.NaN);
        for (let p = 0; p < parts; p++)
          gemmTask(memory.buffer, new ArrayBuffer(0), targs, p, parts, withSimd);
        expect(sameBits(C, ref), `A^T, ${withSimd ? "SIMD" : "JS"} in ${parts} parts`).toBe(true);
      }
    });
  }
});

describe("BatchMatMul and _FusedMatMul on wasm through our product", () => {
  afterAll(async () => {
    setOwnProducts(true);
    await selectBackend("cpu");
  });

  const cases: [number[], number[], boolean, boolean][] = [
    [[128, 96], [96, 40], false, false],
    [[96, 30], [96, 10], true, false], // a dense layer's weight gradient x^T dy, 10 columns
    [[30, 10], [96, 10], false, true], // its input gradient dy W^T
    [[1, 33, 17], [1, 17, 13], false, false], // rank 3, batch 1
  ];
  for (const [as, bs, ta, tb] of cases) {
    it(`matches cpu and XNNPACK: [${as}]${ta ? "^T" : ""} x [${bs}]${tb ? "^T" : ""}`, async () => {
      const av = rand(size(as), as[0] as number);
      const bv = rand(size(bs), 5 + (bs[0] as number));
      const f = () => tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb);
      const { cpu, wasm } = await cpuAndWasm(f);
      expect(maxRelError(wasm, cpu)).toBeLessThan(1e-5);
      setOwnProducts(false);
      const { wasm: xnn } = await cpuAndWasm(f);
      setOwnProducts(true);
      expect(maxRelError(wasm, xnn)).toBeLessThan(1e-5);
    });
  }

  it("runs unbatched products and dense layers without wasm's own kernels, and leaks nothing", async () => {
    const x = rand(40 * 24, 1);
    const w = rand(24 * 12, 2);
    const bias = rand(12, 3);
    const f = () => {
      const a = tf.tensor2d(x, [40, 24]);
      const b = tf.tensor2d(w, [24, 12]);
      const c = tf.tensor1d(bias);
      return [
        tf.fused.matMul({ a, b, bias: c, activation: "relu" }),
        tf.fused.matMul({ a, b, bias: c }),
        tf.fused.matMul({ a: b, b: a, transposeA: true, transposeB: true }),
      ];
    };
    const { cpu, wasm } = await cpuAndWasm(f);
    expect(maxRelError(wasm, cpu)).toBeLessThan(1e-5);
    expect(Math.min(...(wasm.values[0] as Float32Array))).toBe(0);
    const backend = tf.engine().backend;
    const ids = backend.numDataIds();
    const calls = await nativeCallsOf(["BatchMatMul", "_FusedMatMul"], async () => {
      const out = tf.tidy(f);
      await Promise.all(out.map((t) => t.data()));
      tf.dispose(out);
    });
    expect(calls).toEqual({ BatchMatMul: 0, _FusedMatMul: 0 });
    expect(backend.numDataIds()).toBe(ids);
    // Batched products, and activations other than ReLU: wasm's own kernels.
    const other = await nativeCallsOf(["BatchMatMul", "_FusedMatMul"], async () => {
      const a = tf.tensor3d(rand(2 * 5 * 4, 4), [2, 5, 4]);
      const out = [
        tf.matMul(a, a, false, true),
        tf.fused.matMul({
          a: tf.tensor2d(x, [40, 24]),
          b: tf.tensor2d(w, [24, 12]),
          activation: "elu",
        }),
      ];
      await Promise.all(out.map((t) => t.data()));
      tf.dispose(out);
    });
    expect(other).toEqual({ BatchMatMul: 1, _FusedMatMul: 1 });
  });
});

describe("small Add / Sub / Multiply / RealDiv / Neg on wasm (JS, calling thread)", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("gives the cpu backend's values bit for bit, broadcasting as tfjs does", async () => {
    const pairs: [number[], number[]][] = [
      [
        [128, 10],
        [128, 1],
      ],
      [
        [128, 1],
        [128, 10],
      ],
      [
        [3, 1, 5],
        [4, 1],
      ],
      [[7], []],
      [
        [2, 3, 4, 5],
        [2, 3, 4, 5],
      ],
    ];
    const f = () =>
      pairs.flatMap(([as, bs], i) => {
        const a = tf.tensor(rand(size(as), 30 + i), as);
        const b = tf.tensor(rand(size(bs), 40 + i), bs);
        return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b), tf.neg(a)];
      });
    const { cpu, wasm } = await cpuAndWasm(f);
    expect(wasm.shapes).toEqual(cpu.shapes);
    for (let i = 0; i < cpu.values.length; i++) {
      expect(sameBits(wasm.values[i] as Float32Array, cpu.values[i] as Float32Array)).toBe(true);
    }
    // Large ones, int32 ones: wasm's own kernels.
    await selectBackend("wasm");
    const calls = await nativeCallsOf(["Sub", "Multiply", "RealDiv", "Neg"], async () => {
      const big = tf.ones([1 << 15]);
      const ints = tf.tensor1d([1, 2, 3], "int32");
      const out = [
        tf.sub(big, big),
        tf.mul(ints, ints),
        tf.div(big, big),
        tf.neg(big),
        tf.sub(tf.ones([4]), 1),
        tf.div(tf.scalar(3), tf.scalar(4)),
      ];
      await Promise.all(out.map((t) => t.data()));
      tf.dispose([big, ints, ...out]);
    });
    expect(calls).toEqual({ Sub: 1, Multiply: 1, RealDiv: 1, Neg: 1 });
  });
});
