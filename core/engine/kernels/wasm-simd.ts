/**
 * A few elementwise loops as WebAssembly SIMD, for the kernel pool's tasks.
 *
 * Why (issue 19): the wasm backend's own elementwise kernels run on one
 * thread whatever its thread count, and the same loops in JavaScript are
 * 3-7x slower than wasm's vectorised ones (a JS pass over the cnn's
 * [128,28,28,32] activation takes ~9 ms against ~1.3 ms), so moving them to
 * the pool's threads as JS loses. This module is the middle way: the loops,
 * written as f32x4 WebAssembly, instantiated on the wasm backend's own
 * memory on the calling thread and on each pool worker, so that a task can
 * run them over its part of a tensor in place.
 *
 * The module is tiny, so it is assembled here from its instructions (no
 * toolchain, nothing to ship): `simdModuleBytes(shared)` gives the binary,
 * importing `env.memory` (shared for the threaded build, plain for the
 * single-threaded one). Each function takes byte offsets into that memory
 * and an element count that is a multiple of 4 (callers do any tail in
 * JS with Math.fround, which gives the same float32 results).
 *
 *   affine2(a, b, coef, out, n, c)  out = a * k0[j] + b * k1[j] + k2[j]   (coef rows k0, k1, k2 of c; c % 4 == 0)
 *   centredScale(x, coef, out, n, c) out = (x - m[j]) * k[j] + o[j]        (coef rows m, k, o of c; c % 4 == 0)
 *   reluGrad(dy, x, out, n)         out = x > 0 ? dy : 0
 *   relu(x, out, n)                 out = max(x, 0)   (NaN stays NaN, as Math.max)
 *   axpby(x, y, out, n, a, b)       out = a * x + b * y
 *   gemm8 / gemm4(a, b, c, m, k, n, j0, j1)
 *                                   C[i, j] = sum over p of A[i, p] * B[p, j], for rows 0 .. m - 1
 *                                   (m % 4 == 0) and columns j0 .. j1 - 1 (a multiple of 8 / 4 of
 *                                   them); A [m, k], B [k, n], C [m, n] row-major, k >= 1
 *   gemm1(a, b, c, m, k, n, j0, j1) the same in scalar f32, any m >= 1 and j1 > j0 (ragged edges)
 *
 * with j the channel (the element's index mod c); every operation rounds to
 * float32, in this order.
 */

/** The module's exports (byte offsets and element counts are i32). */
export interface SimdExports {
  affine2(a: number, b: number, coef: number, out: number, n: number, c: number): void;
  centredScale(x: number, coef: number, out: number, n: number, c: number): void;
  reluGrad(dy: number, x: number, out: number, n: number): void;
  relu(x: number, out: number, n: number): void;
  axpby(x: number, y: number, out: number, n: number, a: number, b: number): void;
  gemm8(
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    j0: number,
    j1: number,
  ): void;
  gemm4(
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    j0: number,
    j1: number,
  ): void;
  gemm1(
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    j0: number,
    j1: number,
  ): void;
}

/* ----------------------------------------------------------- the encoding */

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a small integer (constants). */
function sleb(n: number): number[] {
  const out: number[] = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

// Instructions.
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const tee = (i: number) => [0x22, ...uleb(i)];
const i32c = (v: number) => [0x41, ...sleb(v)];
const ADD = [0x6a];
const MUL = [0x6c];
/** f32.load, alignment 4, offset 0. */
const F32_LOAD = [0x2a, 2, 0];
const SHL = [0x74];
const NE = [0x47];
const LT_U = [0x49];
const EQZ = [0x45];
const SELECT = [0x1b];
const simd = (op: number) => [0xfd, ...uleb(op)];
/** v128.load / store with alignment hint 1 byte (any address) and offset 0. */
const LOAD = [...simd(0x00), 0, 0];
const STORE = [...simd(0x0b), 0, 0];
const SPLAT = simd(0x13); // f32x4.splat
const GT = simd(0x44); // f32x4.gt
const AND = simd(0x4e); // v128.and
const FADD = simd(0xe4);
const FSUB = simd(0xe5);
const FMUL = simd(0xe6);
const FMAX = simd(0xe9); // f32x4.max: NaN if either is NaN
/** v128.load / store at a constant byte offset. */
const loadAt = (offset: number) => [...simd(0x00), 0, ...uleb(offset)];
const storeAt = (offset: number) => [...simd(0x0b), 0, ...uleb(offset)];
const V128_ZERO = [...simd(0x0c), ...new Array(16).fill(0)];

/**
 * The end of a loop over a local: i = i + step; again while i < end (br_if to the loop's start),
 * then close the loop.
 */
const again = (i: number, step: number[], end: number) => [
  ...get(i),
  ...step,
  ...ADD,
  ...tee(i),
  ...get(end),
  ...LT_U,
  0x0d,
  0, // br_if 0
  0x0b,
];

/** *(base + off) as v128, base and off locals. */
const at = (base: number, off: number) => [...get(base), ...get(off), ...ADD, ...LOAD];

/**
 * A do-while over byte offsets e = 0, 16, ... < 4n (skipped when n is 0).
 * `body` may use local e; `step` runs after it (e.g. the channel offset).
 */
function loop(n: number, e: number, end: number, body: number[], step: number[] = []): number[] {
  return [
    ...get(n),
    ...i32c(2),
    ...SHL,
    ...set(end),
    0x02,
    0x40, // block
    ...get(n),
    ...EQZ,
    0x0d,
    1 - 1, // br_if 0: nothing to do
    0x03,
    0x40, // loop
    ...body,
    ...step,
    ...again(e, i32c(16), end),
    0x0b,
  ];
}

/** jb = jb + 16 == cb ? 0 : jb + 16 (the channel offset, cycling over a row). */
function cycle(jb: number, cb: number): number[] {
  return [
    ...get(jb),
    ...i32c(16),
    ...ADD,
    ...tee(jb),
    ...i32c(0),
    ...get(jb),
    ...get(cb),
    ...NE,
    ...SELECT,
    ...set(jb),
  ];
}

interface Fn {
  name: string;
  params: number[];
  /** Extra locals, in order after the params. */
  locals: number[];
  body: number[];
}

// affine2(a0, b1, coef2, out3, n4, c5); locals e6 jb7 end8 cb9 k1p10 k2p11
const affine2: Fn = {
  name: "affine2",
  params: [I32, I32, I32, I32, I32, I32],
  locals: [I32, I32, I32, I32, I32, I32],
  body: [
    ...get(5),
    ...i32c(2),
    ...SHL,
    ...set(9),
    ...get(2),
    ...get(9),
    ...ADD,
    ...set(10),
    ...get(10),
    ...get(9),
    ...ADD,
    ...set(11),
    ...loop(
      4,
      6,
      8,
      [
        ...get(3),
        ...get(6),
        ...ADD,
        ...at(0, 6),
        ...at(2, 7),
        ...FMUL,
        ...at(1, 6),
        ...at(10, 7),
        ...FMUL,
        ...FADD,
        ...at(11, 7),
        ...FADD,
        ...STORE,
      ],
      cycle(7, 9),
    ),
  ],
};

// centredScale(x0, coef1, out2, n3, c4); locals e5 jb6 end7 cb8 kp9 op10
const centredScale: Fn = {
  name: "centredScale",
  params: [I32, I32, I32, I32, I32],
  locals: [I32, I32, I32, I32, I32, I32],
  body: [
    ...get(4),
    ...i32c(2),
    ...SHL,
    ...set(8),
    ...get(1),
    ...get(8),
    ...ADD,
    ...set(9),
    ...get(9),
    ...get(8),
    ...ADD,
    ...set(10),
    ...loop(
      3,
      5,
      7,
      [
        ...get(2),
        ...get(5),
        ...ADD,
        ...at(0, 5),
        ...at(1, 6),
        ...FSUB,
        ...at(9, 6),
        ...FMUL,
        ...at(10, 6),
        ...FADD,
        ...STORE,
      ],
      cycle(6, 8),
    ),
  ],
};

// reluGrad(dy0, x1, out2, n3); locals e4 end5
const reluGrad: Fn = {
  name: "reluGrad",
  params: [I32, I32, I32, I32],
  locals: [I32, I32],
  body: loop(3, 4, 5, [
    ...get(2),
    ...get(4),
    ...ADD,
    ...at(0, 4),
    ...at(1, 4),
    ...V128_ZERO,
    ...GT,
    ...AND,
    ...STORE,
  ]),
};

// relu(x0, out1, n2); locals e3 end4
const relu: Fn = {
  name: "relu",
  params: [I32, I32, I32],
  locals: [I32, I32],
  body: loop(2, 3, 4, [...get(1), ...get(3), ...ADD, ...at(0, 3), ...V128_ZERO, ...FMAX, ...STORE]),
};

// axpby(x0, y1, out2, n3, a4: f32, b5: f32); locals e6 end7 va8 vb9
const axpby: Fn = {
  name: "axpby",
  params: [I32, I32, I32, I32, F32, F32],
  locals: [I32, I32, V128, V128],
  body: [
    ...get(4),
    ...SPLAT,
    ...set(8),
    ...get(5),
    ...SPLAT,
    ...set(9),
    ...loop(3, 6, 7, [
      ...get(2),
      ...get(6),
      ...ADD,
      ...get(8),
      ...at(0, 6),
      ...FMUL,
      ...get(9),
      ...at(1, 6),
      ...FMUL,
      ...FADD,
      ...STORE,
    ]),
  ],
};

/**
 * gemm8 / gemm4 (a0, b1, c2, m3, k4, n5, j06, j17): a register-blocked
 * product, 4 rows x `cols` columns of C per block (8 or 4 accumulators of
 * f32x4), over column blocks j0 .. j1 (outer: the block's panel of B stays
 * in cache while A streams) and row blocks (inner). For each block, p runs
 * 0 .. k - 1 in order and acc = acc + a * b, each operation rounded to
 * float32 (wasm SIMD has no fused multiply-add): the same per element as
 * the JS loop `acc = fround(acc + fround(a * b))`, whatever the blocking.
 * Locals: jb8 jEnd9 lda10 lda2_11 lda3_12 ldb13 arow14 aEnd15 pc16 pa17
 * kend18 pb19; v128: s20, b 21.., accumulators after them.
 */
function gemm(fnName: string, cols: 8 | 4): Fn {
  const vecs = cols / 4;
  const S = 20;
  const B0 = 21;
  const ACC = B0 + vecs;
  const acc = (r: number, v: number) => ACC + r * vecs + v;
  const rowOffset = [[], [...get(10), ...ADD], [...get(11), ...ADD], [...get(12), ...ADD]];
  const inner: number[] = [];
  for (let v = 0; v < vecs; v++) inner.push(...get(19), ...loadAt(16 * v), ...set(B0 + v));
  for (let r = 0; r < 4; r++) {
    inner.push(...get(17), ...(rowOffset[r] as number[]), ...F32_LOAD, ...SPLAT, ...set(S));
    for (let v = 0; v < vecs; v++) {
      inner.push(...get(acc(r, v)), ...get(S), ...get(B0 + v), ...FMUL, ...FADD, ...set(acc(r, v)));
    }
  }
  const zero: number[] = [];
  const store: number[] = [];
  for (let r = 0; r < 4; r++) {
    for (let v = 0; v < vecs; v++) {
      zero.push(...V128_ZERO, ...set(acc(r, v)));
      store.push(...get(16), ...get(13), ...i32c(r), ...MUL, ...ADD);
      store.push(...get(acc(r, v)), ...storeAt(16 * v));
    }
  }
  return {
    name: fnName,
    params: [I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [...new Array(12).fill(I32), ...new Array(1 + vecs + 4 * vecs).fill(V128)],
    body: [
      ...get(4),
      ...i32c(2),
      ...SHL,
      ...set(10),
      ...get(10),
      ...i32c(1),
      ...SHL,
      ...set(11),
      ...get(11),
      ...get(10),
      ...ADD,
      ...set(12),
      ...get(5),
      ...i32c(2),
      ...SHL,
      ...set(13),
      ...get(6),
      ...i32c(2),
      ...SHL,
      ...set(8),
      ...get(7),
      ...i32c(2),
      ...SHL,
      ...set(9),
      ...get(0),
      ...get(3),
      ...get(10),
      ...MUL,
      ...ADD,
      ...set(15),
      0x03,
      0x40, // loop over column blocks
      ...get(0),
      ...set(14),
      ...get(2),
      ...get(8),
      ...ADD,
      ...set(16),
      0x03,
      0x40, // loop over row blocks
      ...zero,
      ...get(14),
      ...set(17),
      ...get(14),
      ...get(10),
      ...ADD,
      ...set(18),
      ...get(1),
      ...get(8),
      ...ADD,
      ...set(19),
      0x03,
      0x40, // loop over p
      ...inner,
      ...get(19),
      ...get(13),
      ...ADD,
      ...set(19),
      ...again(17, i32c(4), 18),
      ...store,
      ...get(16),
      ...get(13),
      ...i32c(2),
      ...SHL,
      ...ADD,
      ...set(16),
      ...again(14, [...get(10), ...i32c(2), ...SHL], 15),
      ...again(8, i32c(4 * cols), 9),
    ],
  };
}

/**
 * gemm1 (a0, b1, c2, m3, k4, n5, j06, j17): one element at a time in scalar
 * f32 (the edges the blocks leave), p in order, acc = acc + a * b.
 * Locals: pa8 aEnd9 lda10 ldb11 jb12 jEnd13 pc14 pp15 kend16 pb17; f32 acc18.
 */
const gemm1: Fn = {
  name: "gemm1",
  params: [I32, I32, I32, I32, I32, I32, I32, I32],
  locals: [...new Array(10).fill(I32), F32],
  body: [
    ...get(4),
    ...i32c(2),
    ...SHL,
    ...set(10),
    ...get(5),
    ...i32c(2),
    ...SHL,
    ...set(11),
    ...get(0),
    ...get(3),
    ...get(10),
    ...MUL,
    ...ADD,
    ...set(9),
    ...get(7),
    ...i32c(2),
    ...SHL,
    ...set(13),
    ...get(0),
    ...set(8),
    ...get(2),
    ...set(14),
    0x03,
    0x40, // loop over rows
    ...get(6),
    ...i32c(2),
    ...SHL,
    ...set(12),
    0x03,
    0x40, // loop over columns
    0x43,
    0,
    0,
    0,
    0,
    ...set(18), // f32.const 0
    ...get(8),
    ...set(15),
    ...get(8),
    ...get(10),
    ...ADD,
    ...set(16),
    ...get(1),
    ...get(12),
    ...ADD,
    ...set(17),
    0x03,
    0x40, // loop over p
    ...get(18),
    ...get(15),
    ...F32_LOAD,
    ...get(17),
    ...F32_LOAD,
    0x94,
    0x92,
    ...set(18),
    ...get(17),
    ...get(11),
    ...ADD,
    ...set(17),
    ...again(15, i32c(4), 16),
    ...get(14),
    ...get(12),
    ...ADD,
    ...get(18),
    0x38,
    2,
    0, // f32.store
    ...again(12, i32c(4), 13),
    ...get(14),
    ...get(11),
    ...ADD,
    ...set(14),
    ...again(8, get(10), 9),
  ],
};

const FUNCTIONS: Fn[] = [
  affine2,
  centredScale,
  reluGrad,
  axpby,
  relu,
  gemm("gemm8", 8),
  gemm("gemm4", 4),
  gemm1,
];

/** Most pages the imported memory may have (4 GiB; a shared import must state one). */
const MAX_PAGES = 65536;

/** The module's binary; `shared` for a SharedArrayBuffer-backed (threaded) memory. */
export function simdModuleBytes(shared: boolean): Uint8Array {
  const types = vec(FUNCTIONS.map((f) => [0x60, ...vec(f.params.map((p) => [p])), 0]));
  const memory = shared ? [0x03, ...uleb(0), ...uleb(MAX_PAGES)] : [0x00, ...uleb(0)];
  const imports = vec([[...name("env"), ...name("memory"), 0x02, ...memory]]);
  const funcs = vec(FUNCTIONS.map((_, i) => uleb(i)));
  const exports = vec(FUNCTIONS.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const bodies = vec(
    FUNCTIONS.map((f) => {
      const locals = vec(f.locals.map((t) => [1, t]));
      const code = [...locals, ...f.body, 0x0b];
      return [...uleb(code.length), ...code];
    }),
  );
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, bodies),
  ]);
}

/**
 * The parts of the WebAssembly API used here (its types are the DOM lib's,
 * which this project does not include; see also wasm-threads.ts).
 */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
/** A compiled module (opaque; workers receive it in workerData). */
export type WasmModule = object;
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: unknown };
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}
const webAssembly = (): WebAssemblyApi =>
  (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** Whether `m` is a WebAssembly.Memory. */
export function isWasmMemory(m: unknown): m is WasmMemory {
  return m instanceof webAssembly().Memory;
}

const modules = new Map<boolean, WasmModule>();

/** The compiled module for a shared or plain memory (compiled once per process). */
export function simdModule(shared: boolean): WasmModule {
  let m = modules.get(shared);
  if (!m) {
    m = new (webAssembly().Module)(simdModuleBytes(shared));
    modules.set(shared, m);
  }
  return m;
}

const instances = new WeakMap<WasmMemory, SimdExports>();

/** The module instantiated on `memory` (once per memory). */
export function simdOn(memory: WasmMemory): SimdExports {
  let e = instances.get(memory);
  if (!e) {
    const shared =
      typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
    const instance = new (webAssembly().Instance)(simdModule(shared), { env: { memory } });
    e = instance.exports as SimdExports;
    instances.set(memory, e);
  }
  return e;
}
