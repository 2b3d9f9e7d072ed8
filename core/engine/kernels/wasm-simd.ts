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
 *   gemm8 / gemm4(a, b, c, m, k, n, j0, j1, rs, ps)
 *                                   C[i, j] = sum over p of A[i, p] * B[p, j], for rows 0 .. m - 1
 *                                   (m % 4 == 0) and columns j0 .. j1 - 1 (a multiple of 8 / 4 of
 *                                   them); A's (i, p) at byte a + i * rs + p * ps (A [m, k]:
 *                                   rs = 4k, ps = 4; A^T stored [k, m]: rs = 4, ps = 4m),
 *                                   B [k, n], C [m, n] row-major, k >= 1
 *   gemm1(a, b, c, m, k, n, j0, j1, rs, ps) the same in scalar f32, any m >= 1 and j1 > j0 (ragged edges)
 *   sumSquares(x, n) -> [s0, s1, s2, s3]
 *                                   float64 sums of squares of the elements i % 4 == 0..3 (n % 4 == 0)
 *   transpose(x, out, rows, cols, i0, i1)
 *                                   out [cols, rows] = x [rows, cols]^T, rows i0 .. i1 - 1 (a
 *                                   multiple of 4 of them) and the first cols & ~3 columns
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
    rs: number,
    ps: number,
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
    rs: number,
    ps: number,
  ): void;
  transpose(x: number, out: number, rows: number, cols: number, i0: number, i1: number): void;
  sumSquares(x: number, n: number): [number, number, number, number];
  gemm1(
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    j0: number,
    j1: number,
    rs: number,
    ps: number,
  ): void;
}

/* ----------------------------------------------------------- the encoding */

const I32 = 0x7f;
const F32 = 0x7d;
const F64 = 0x7c;
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
/** i8x16.shuffle of two v128 by 32-bit lanes (0-3: the first, 4-7: the second). */
const shuffle32 = (lanes: [number, number, number, number]) => [
  ...simd(0x0d),
  ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]),
];

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
  /** Result types (none when absent). */
  results?: number[];
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
 * The start of a GEMM's loop over the terms p (params: b1, k4): A's pointer
 * p = row (its row's first term), end = row + k * ps, B's pointer pb = b + jb.
 */
const termLoopStart = (row: number, p: number, end: number, pb: number, ps: number, jb: number) => [
  ...get(row),
  ...set(p),
  ...get(row),
  ...get(4),
  ...get(ps),
  ...MUL,
  ...ADD,
  ...set(end),
  ...get(1),
  ...get(jb),
  ...ADD,
  ...set(pb),
];

/**
 * gemm8 / gemm4 (a0, b1, c2, m3, k4, n5, j06, j17, rs8, ps9): a
 * register-blocked product, 4 rows x `cols` columns of C per block (8 or 4
 * accumulators of f32x4), over column blocks j0 .. j1 (outer: the block's
 * panel of B stays in cache while A streams) and row blocks (inner). A's
 * element (i, p) is at a + i * rs + p * ps (bytes): rs = 4k, ps = 4 for A
 * [m, k]; rs = 4, ps = 4m for A stored transposed ([k, m], a weight
 * gradient's x^T), read in place instead of copied. For each block, p runs
 * 0 .. k - 1 in order and acc = acc + a * b, each operation rounded to
 * float32 (wasm SIMD has no fused multiply-add): the same per element as
 * the JS loop `acc = fround(acc + fround(a * b))`, whatever the blocking or
 * A's layout.
 * Locals: jb10 jEnd11 lda12 lda2_13 lda3_14 ldb15 arow16 aEnd17 pc18 pa19
 * kend20 pb21; v128: s22, b 23.., accumulators after them.
 */
function gemm(fnName: string, cols: 8 | 4): Fn {
  const vecs = cols / 4;
  const [RS, PS, JB, JEND, LDA, LDA2, LDA3, LDB, AROW, AEND, PC, PA, KEND, PB, S, B0] = [
    8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
  ] as const;
  const ACC = B0 + vecs;
  const acc = (r: number, v: number) => ACC + r * vecs + v;
  const rowOffset = [[], [...get(LDA), ...ADD], [...get(LDA2), ...ADD], [...get(LDA3), ...ADD]];
  const inner: number[] = [];
  for (let v = 0; v < vecs; v++) inner.push(...get(PB), ...loadAt(16 * v), ...set(B0 + v));
  for (let r = 0; r < 4; r++) {
    inner.push(...get(PA), ...(rowOffset[r] as number[]), ...F32_LOAD, ...SPLAT, ...set(S));
    for (let v = 0; v < vecs; v++) {
      inner.push(...get(acc(r, v)), ...get(S), ...get(B0 + v), ...FMUL, ...FADD, ...set(acc(r, v)));
    }
  }
  const zero: number[] = [];
  const store: number[] = [];
  for (let r = 0; r < 4; r++) {
    for (let v = 0; v < vecs; v++) {
      zero.push(...V128_ZERO, ...set(acc(r, v)));
      store.push(...get(PC), ...get(LDB), ...i32c(r), ...MUL, ...ADD);
      store.push(...get(acc(r, v)), ...storeAt(16 * v));
    }
  }
  return {
    name: fnName,
    params: new Array(10).fill(I32),
    locals: [...new Array(12).fill(I32), ...new Array(1 + vecs + 4 * vecs).fill(V128)],
    body: [
      ...get(RS),
      ...set(LDA),
      ...get(LDA),
      ...i32c(1),
      ...SHL,
      ...set(LDA2),
      ...get(LDA2),
      ...get(LDA),
      ...ADD,
      ...set(LDA3),
      ...get(5),
      ...i32c(2),
      ...SHL,
      ...set(LDB),
      ...get(6),
      ...i32c(2),
      ...SHL,
      ...set(JB),
      ...get(7),
      ...i32c(2),
      ...SHL,
      ...set(JEND),
      ...get(0),
      ...get(3),
      ...get(LDA),
      ...MUL,
      ...ADD,
      ...set(AEND),
      0x03,
      0x40, // loop over column blocks
      ...get(0),
      ...set(AROW),
      ...get(2),
      ...get(JB),
      ...ADD,
      ...set(PC),
      0x03,
      0x40, // loop over row blocks
      ...zero,
      ...termLoopStart(AROW, PA, KEND, PB, PS, JB),
      0x03,
      0x40, // loop over p
      ...inner,
      ...get(PB),
      ...get(LDB),
      ...ADD,
      ...set(PB),
      ...again(PA, get(PS), KEND),
      ...store,
      ...get(PC),
      ...get(LDB),
      ...i32c(2),
      ...SHL,
      ...ADD,
      ...set(PC),
      ...again(AROW, [...get(LDA), ...i32c(2), ...SHL], AEND),
      ...again(JB, i32c(4 * cols), JEND),
    ],
  };
}

/**
 * gemm1 (a0, b1, c2, m3, k4, n5, j06, j17, rs8, ps9): one element at a time
 * in scalar f32 (the edges the blocks leave), p in order, acc = acc + a * b;
 * A's strides as for gemm8.
 * Locals: pa10 aEnd11 lda12 ldb13 jb14 jEnd15 pc16 pp17 kend18 pb19; f32 acc20.
 */
const gemm1: Fn = (() => {
  const [RS, PS, PA, AEND, LDA, LDB, JB, JEND, PC, PP, KEND, PB, ACC] = [
    8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
  ] as const;
  return {
    name: "gemm1",
    params: new Array(10).fill(I32),
    locals: [...new Array(10).fill(I32), F32],
    body: [
      ...get(RS),
      ...set(LDA),
      ...get(5),
      ...i32c(2),
      ...SHL,
      ...set(LDB),
      ...get(0),
      ...get(3),
      ...get(LDA),
      ...MUL,
      ...ADD,
      ...set(AEND),
      ...get(7),
      ...i32c(2),
      ...SHL,
      ...set(JEND),
      ...get(0),
      ...set(PA),
      ...get(2),
      ...set(PC),
      0x03,
      0x40, // loop over rows
      ...get(6),
      ...i32c(2),
      ...SHL,
      ...set(JB),
      0x03,
      0x40, // loop over columns
      0x43,
      0,
      0,
      0,
      0,
      ...set(ACC), // f32.const 0
      ...termLoopStart(PA, PP, KEND, PB, PS, JB),
      0x03,
      0x40, // loop over p
      ...get(ACC),
      ...get(PP),
      ...F32_LOAD,
      ...get(PB),
      ...F32_LOAD,
      0x94,
      0x92,
      ...set(ACC),
      ...get(PB),
      ...get(LDB),
      ...ADD,
      ...set(PB),
      ...again(PP, get(PS), KEND),
      ...get(PC),
      ...get(JB),
      ...ADD,
      ...get(ACC),
      0x38,
      2,
      0, // f32.store
      ...again(JB, i32c(4), JEND),
      ...get(PC),
      ...get(LDB),
      ...ADD,
      ...set(PC),
      ...again(PA, get(LDA), AEND),
    ],
  };
})();

const PROMOTE_LOW = simd(0x5f); // f64x2.promote_low_f32x4
const F64ADD = simd(0xf0);
const F64MUL = simd(0xf2);
const f64Lane = (lane: number) => [...simd(0x21), lane]; // f64x2.extract_lane

/**
 * sumSquares (x0, n1) -> (s0, s1, s2, s3): float64 sums of x[i]^2 over the
 * elements i % 4 == 0, 1, 2, 3 (n a multiple of 4), in order: the JS loop's
 * four interleaved accumulators exactly (a float32 square is exact in
 * float64, and each sum rounds the same way), two lanes at a time.
 * Locals: e2 end3 v4 lo5 hi6 p7.
 */
const sumSquares: Fn = {
  name: "sumSquares",
  params: [I32, I32],
  results: [F64, F64, F64, F64],
  locals: [I32, I32, V128, V128, V128, V128],
  body: [
    ...loop(1, 2, 3, [
      ...at(0, 2),
      ...set(4),
      ...get(4),
      ...PROMOTE_LOW,
      ...tee(7),
      ...get(7),
      ...F64MUL,
      ...get(5),
      ...F64ADD,
      ...set(5),
      ...get(4),
      ...get(4),
      ...shuffle32([2, 3, 0, 1]),
      ...PROMOTE_LOW,
      ...tee(7),
      ...get(7),
      ...F64MUL,
      ...get(6),
      ...F64ADD,
      ...set(6),
    ]),
    ...get(5),
    ...f64Lane(0),
    ...get(5),
    ...f64Lane(1),
    ...get(6),
    ...f64Lane(0),
    ...get(6),
    ...f64Lane(1),
  ],
};

/**
 * transpose (x0, out1, rows2, cols3, i0_4, i1_5): out [cols, rows] = x
 * [rows, cols]^T for rows i0 .. i1 - 1 (i1 - i0 a multiple of 4) and the
 * first cols & ~3 columns, in 4 x 4 blocks (four loads, eight shuffles,
 * four stores), 32 columns at a time so that the 32 output rows being
 * written stay in cache. Moves bits only. The JS loop this replaces took
 * ~1.2-2 ns per element (a dense layer's x^T and W^T, the filter
 * gradient's transposes), this ~0.2.
 * Locals: ldx6 ldo7 colsB8 jb9 jEnd10 xi11 xEnd12 oi13 j14 px15 po16 ldx3_17
 * ldo3_18; v128 r 19..22, t 23..26.
 */
const transpose: Fn = (() => {
  const [LDX, LDO, COLSB, JB, JEND, XI, XEND, OI, J, PX, PO, LDX3, LDO3] = [
    6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
  ] as const;
  const R = 19;
  const T = 23;
  /** + r * ld for r = 0..3 (ld3 holds 3 * ld). */
  const plusRows = (ld: number, ld3: number, r: number) =>
    [[], [...get(ld), ...ADD], [...get(ld), ...i32c(1), ...SHL, ...ADD], [...get(ld3), ...ADD]][
      r
    ] as number[];
  const rows: number[] = [];
  for (let r = 0; r < 4; r++) {
    rows.push(...get(PX), ...plusRows(LDX, LDX3, r), ...LOAD, ...set(R + r));
  }
  const lo: [number, number, number, number] = [0, 4, 1, 5];
  const hi: [number, number, number, number] = [2, 6, 3, 7];
  const shuffles = [
    ...get(R),
    ...get(R + 1),
    ...shuffle32(lo),
    ...set(T),
    ...get(R),
    ...get(R + 1),
    ...shuffle32(hi),
    ...set(T + 1),
    ...get(R + 2),
    ...get(R + 3),
    ...shuffle32(lo),
    ...set(T + 2),
    ...get(R + 2),
    ...get(R + 3),
    ...shuffle32(hi),
    ...set(T + 3),
  ];
  // Output column c (x's column j + c) = lanes c of rows 0..3.
  const outs: [number, number, [number, number, number, number]][] = [
    [T, T + 2, [0, 1, 4, 5]],
    [T, T + 2, [2, 3, 6, 7]],
    [T + 1, T + 3, [0, 1, 4, 5]],
    [T + 1, T + 3, [2, 3, 6, 7]],
  ];
  const stores: number[] = [];
  outs.forEach(([a, b, lanes], c) => {
    stores.push(...get(PO), ...plusRows(LDO, LDO3, c), ...get(a), ...get(b));
    stores.push(...shuffle32(lanes), ...STORE);
  });
  return {
    name: "transpose",
    params: [I32, I32, I32, I32, I32, I32],
    locals: [...new Array(13).fill(I32), ...new Array(8).fill(V128)],
    body: [
      ...get(3),
      ...i32c(2),
      ...SHL,
      ...set(LDX),
      ...get(2),
      ...i32c(2),
      ...SHL,
      ...set(LDO),
      ...get(LDX),
      ...i32c(1),
      ...SHL,
      ...get(LDX),
      ...ADD,
      ...set(LDX3),
      ...get(LDO),
      ...i32c(1),
      ...SHL,
      ...get(LDO),
      ...ADD,
      ...set(LDO3),
      ...get(3),
      ...i32c(-4),
      0x71, // i32.and
      ...i32c(2),
      ...SHL,
      ...set(COLSB),
      0x02,
      0x40, // block: nothing to do without a full block
      ...get(COLSB),
      ...EQZ,
      ...get(5),
      ...get(4),
      0x4d, // i32.le_u
      0x72, // i32.or
      0x0d,
      0, // br_if 0
      0x03,
      0x40, // loop over 32-column strips
      ...get(JB),
      ...i32c(128),
      ...ADD,
      ...tee(JEND),
      ...get(COLSB),
      ...get(JEND),
      ...get(COLSB),
      ...LT_U,
      ...SELECT,
      ...set(JEND),
      ...get(0),
      ...get(4),
      ...get(LDX),
      ...MUL,
      ...ADD,
      ...set(XI),
      ...get(0),
      ...get(5),
      ...get(LDX),
      ...MUL,
      ...ADD,
      ...set(XEND),
      ...get(1),
      ...get(4),
      ...i32c(2),
      ...SHL,
      ...ADD,
      ...set(OI),
      0x03,
      0x40, // loop over 4-row blocks
      ...get(JB),
      ...set(J),
      0x03,
      0x40, // loop over 4-column blocks of the strip
      ...get(XI),
      ...get(J),
      ...ADD,
      ...set(PX),
      ...get(OI),
      ...get(J),
      ...i32c(2),
      0x76, // i32.shr_u: the column index
      ...get(LDO),
      ...MUL,
      ...ADD,
      ...set(PO),
      ...rows,
      ...shuffles,
      ...stores,
      ...again(J, i32c(16), JEND),
      ...get(OI),
      ...i32c(16),
      ...ADD,
      ...set(OI),
      ...again(XI, [...get(LDX), ...i32c(2), ...SHL], XEND),
      ...again(JB, i32c(128), COLSB),
      0x0b, // end block
    ],
  };
})();

const FUNCTIONS: Fn[] = [
  affine2,
  centredScale,
  reluGrad,
  axpby,
  relu,
  gemm("gemm8", 8),
  gemm("gemm4", 4),
  gemm1,
  transpose,
  sumSquares,
];

/** Most pages the imported memory may have (4 GiB; a shared import must state one). */
const MAX_PAGES = 65536;

/** The module's binary; `shared` for a SharedArrayBuffer-backed (threaded) memory. */
export function simdModuleBytes(shared: boolean): Uint8Array {
  const types = vec(
    FUNCTIONS.map((f) => [
      0x60,
      ...vec(f.params.map((p) => [p])),
      ...vec((f.results ?? []).map((r) => [r])),
    ]),
  );
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
