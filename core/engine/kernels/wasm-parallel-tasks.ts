/**
 * The loops of the wasm kernel overrides that run in JavaScript, written so
 * that they also run on the kernel pool's worker threads (wasm-parallel.ts).
 *
 * Rules for this module (the pool ships every function in WORKER_FUNCTIONS
 * to its workers as source text, `fn.toString()`):
 *   - no imports, no module-level constants or state: a function may use its
 *     parameters, globals (Math, Number, typed arrays) and the other
 *     functions of WORKER_FUNCTIONS, by name;
 *   - no nested functions or closures (a bundler may wrap them in helpers
 *     that do not exist in the worker).
 *
 * A task has the signature (heap, scratch, a, part, parts): `heap` is the
 * wasm memory's buffer, `scratch` a buffer for per-part partial results,
 * `a` its arguments (byte offsets into the heap and sizes, as numbers), and
 * it does part `part` of `parts` (0 <= part < parts; the pool calls the
 * parts "chunks" and hands them to whichever thread is free). Parts write
 * disjoint parts of their output, or partial results into their own slot
 * of scratch that the caller adds in part order. The number of parts
 * depends on the work, not on the threads: results are the same on any
 * number of threads.
 *
 * Elementwise tasks run their loops through `simd` (wasm-simd.ts: f32x4
 * WebAssembly on the same heap; plain JS is 3-7x slower at these), with a
 * JS fallback that rounds each operation with Math.fround, so that both
 * give the same float32 results.
 */
import type { SimdExports } from "./wasm-simd.js";

/** [lo, hi) of `n` items for part `part` of `parts`, in order. */
export function partRange(n: number, part: number, parts: number): number[] {
  return [Math.floor((n * part) / parts) | 0, Math.floor((n * (part + 1)) / parts) | 0];
}

/* ------------------------------------------------------------ MaxPoolGrad */

/**
 * MaxPoolGrad over images [b0, b1): zeroes those images' dx, then adds each
 * window's dy to the first maximum of x in it (row-major, strict `>`, NaN
 * never wins; a window without a finite maximum gets nothing), as tfjs's cpu
 * backend. Windows never cross images, so image ranges are independent.
 * g: [n, inH, inW, c, outH, outW, sh, sw, fh, fw, top, left].
 */
export function maxPoolGradImages(
  x: Float32Array,
  d: Float32Array,
  out: Float32Array,
  g: ArrayLike<number>,
  b0: number,
  b1: number,
): void {
  const inH = (g[1] as number) | 0;
  const inW = (g[2] as number) | 0;
  const c = (g[3] as number) | 0;
  const outH = (g[4] as number) | 0;
  const outW = (g[5] as number) | 0;
  const sh = (g[6] as number) | 0;
  const sw = (g[7] as number) | 0;
  const fh = (g[8] as number) | 0;
  const fw = (g[9] as number) | 0;
  const top = (g[10] as number) | 0;
  const left = (g[11] as number) | 0;
  const imageSize = inH * inW * c;
  out.fill(0, b0 * imageSize, b1 * imageSize);
  // Start of each in-image window tap's channel row, for the current window.
  const taps = new Int32Array(fh * fw);
  for (let b = b0; b < b1; b++) {
    const image = b * imageSize;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sh - top;
      const hMin = Math.max(0, h0);
      const hMax = Math.min(inH, h0 + fh);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * sw - left;
        const wMin = Math.max(0, w0);
        const wMax = Math.min(inW, w0 + fw);
        let nt = 0;
        for (let h = hMin; h < hMax; h++) {
          for (let w = wMin; w < wMax; w++) taps[nt++] = image + (h * inW + w) * c;
        }
        const dyBase = ((b * outH + oh) * outW + ow) * c;
        if (nt === 4) {
          // A whole 2x2 window (the common pool): a branch-free tournament,
          // ~1.5x faster on random data, where `v > best` is unpredictable.
          // Same choice as the loop below: the first maximum, NaN never wins.
          const t0 = taps[0] as number;
          const t1 = taps[1] as number;
          const t2 = taps[2] as number;
          const t3 = taps[3] as number;
          for (let ch = 0; ch < c; ch++) {
            const v0 = x[t0 + ch] as number;
            const v1 = x[t1 + ch] as number;
            const v2 = x[t2 + ch] as number;
            const v3 = x[t3 + ch] as number;
            const first = v1 > v0 || Number.isNaN(v0);
            const i01 = first ? t1 : t0;
            const m01 = first ? v1 : v0;
            const second = v3 > v2 || Number.isNaN(v2);
            const i23 = second ? t3 : t2;
            const m23 = second ? v3 : v2;
            const last = m23 > m01 || Number.isNaN(m01);
            const best = last ? m23 : m01;
            if (best > Number.NEGATIVE_INFINITY) {
              const i = (last ? i23 : i01) + ch;
              out[i] = (out[i] as number) + (d[dyBase + ch] as number);
            }
          }
          continue;
        }
        for (let ch = 0; ch < c; ch++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let t = 0; t < nt; t++) {
            const i = (taps[t] as number) + ch;
            const v = x[i] as number;
            if (v > best) {
              best = v;
              at = i;
            }
          }
          if (at >= 0) out[at] = (out[at] as number) + (d[dyBase + ch] as number);
        }
      }
    }
  }
}

/** a: [xOffset, dyOffset, dxOffset, ...g of maxPoolGradImages]; parts over images. */
export function maxPoolGradTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
): void {
  const g = a.subarray(3, 15);
  const n = (g[0] as number) | 0;
  const imageSize = (g[1] as number) * (g[2] as number) * (g[3] as number);
  const dySize = n * (g[4] as number) * (g[5] as number) * (g[3] as number);
  const x = new Float32Array(heap, a[0] as number, n * imageSize);
  const d = new Float32Array(heap, a[1] as number, dySize);
  const out = new Float32Array(heap, a[2] as number, n * imageSize);
  const r = partRange(n, part, parts);
  maxPoolGradImages(x, d, out, g, r[0] as number, r[1] as number);
}

/* ------------------------------------------------------ transposes, im2col */

/**
 * out[b, j, i] = x[b, i, j] for matrices b in [b0, b1) of [rows, cols], rows
 * [i0, i1) only. With `simd` (x and out views of the memory it runs on):
 * wasm-simd.ts's 4 x 4 blocks, then the rows and columns they leave in JS;
 * without, in 32 x 32 JS tiles so that reads and writes stay in cache. The
 * same bits either way.
 */
export function transposeRange(
  x: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array,
  b0: number,
  b1: number,
  i0: number,
  i1: number,
  simd: SimdExports | null = null,
): void {
  const size = rows * cols;
  if (simd) {
    const iq = i0 + ((i1 - i0) & ~3);
    const cq = cols & ~3;
    for (let b = b0; b < b1; b++) {
      const base = b * size;
      simd.transpose(x.byteOffset + base * 4, out.byteOffset + base * 4, rows, cols, i0, iq);
      for (let i = i0; i < i1; i++) {
        for (let j = i < iq ? cq : 0; j < cols; j++) {
          out[base + j * rows + i] = x[base + i * cols + j] as number;
        }
      }
    }
    return;
  }
  for (let b = b0; b < b1; b++) {
    const base = b * size;
    for (let r0 = i0; r0 < i1; r0 += 32) {
      const r1 = Math.min(i1, r0 + 32);
      for (let c0 = 0; c0 < cols; c0 += 32) {
        const c1 = Math.min(cols, c0 + 32);
        if (rows > cols) {
          // Long columns in the output: write each of its rows in one run
          // (the other order writes 32 places `rows` floats apart per step,
          // ~6x slower for [100352, 32]).
          for (let j = c0; j < c1; j++) {
            const dst = base + j * rows;
            for (let i = r0, src = base + r0 * cols + j; i < r1; i++, src += cols) {
              out[dst + i] = x[src] as number;
            }
          }
        } else {
          for (let i = r0; i < r1; i++) {
            const src = base + i * cols;
            for (let j = c0; j < c1; j++) out[base + j * rows + i] = x[src + j] as number;
          }
        }
      }
    }
  }
}

/** out[b, j, i] = x[b, i, j] for `batch` matrices of [rows, cols]. */
export function transposeBatched(
  x: Float32Array,
  batch: number,
  rows: number,
  cols: number,
  out: Float32Array,
): void {
  transposeRange(x, rows, cols, out, 0, batch, 0, rows);
}

/**
 * a: [xOffset, outOffset, batch, rows, cols]; parts over matrices when there
 * are at least as many as parts, else over row blocks of 32.
 */
export function transposeTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const batch = (a[2] as number) | 0;
  const rows = (a[3] as number) | 0;
  const cols = (a[4] as number) | 0;
  const x = new Float32Array(heap, a[0] as number, batch * rows * cols);
  const out = new Float32Array(heap, a[1] as number, batch * rows * cols);
  if (batch >= parts) {
    const r = partRange(batch, part, parts);
    transposeRange(x, rows, cols, out, r[0] as number, r[1] as number, 0, rows, simd);
  } else {
    const blocks = Math.ceil(rows / 32);
    const r = partRange(blocks, part, parts);
    const i1 = Math.min(rows, (r[1] as number) * 32);
    transposeRange(x, rows, cols, out, 0, batch, (r[0] as number) * 32, i1, simd);
  }
}

/**
 * The transposed im2col matrix of a chunk of images, columns of images
 * [p0, p1) of the chunk only: row (kh*fw + kw)*inC + ci, column
 * p*outH*outW + oh*outW + ow holds image p's pixel
 * (oh*sh + kh - top, ow*sw + kw - left) of channel ci (zero outside the
 * image). `planar` holds the chunk's images channel-planar ([p, ci, h, w]),
 * so that each output row reads one small contiguous plane.
 * g: [inH, inW, inC, outH, outW, fh, fw, sh, sw, top, left, images].
 */
export function im2colColumns(
  planar: Float32Array,
  out: Float32Array,
  g: ArrayLike<number>,
  p0: number,
  p1: number,
): void {
  const inH = (g[0] as number) | 0;
  const inW = (g[1] as number) | 0;
  const inC = (g[2] as number) | 0;
  const outH = (g[3] as number) | 0;
  const outW = (g[4] as number) | 0;
  const fh = (g[5] as number) | 0;
  const fw = (g[6] as number) | 0;
  const sh = (g[7] as number) | 0;
  const sw = (g[8] as number) | 0;
  const top = (g[9] as number) | 0;
  const left = (g[10] as number) | 0;
  const images = (g[11] as number) | 0;
  const hw = inH * inW;
  const perImage = outH * outW;
  const cols = images * perImage;
  for (let ci = 0; ci < inC; ci++) {
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        const row = (kh * fw + kw) * inC + ci;
        // Output columns whose input column iw = ow*sw + kw - left is inside.
        const owMin = Math.max(0, Math.ceil((left - kw) / sw));
        const owMax = Math.min(outW, Math.floor((inW - 1 + left - kw) / sw) + 1);
        let dst = row * cols + p0 * perImage;
        for (let p = p0; p < p1; p++) {
          const plane = (p * inC + ci) * hw;
          for (let oh = 0; oh < outH; oh++, dst += outW) {
            const ih = oh * sh + kh - top;
            if (ih < 0 || ih >= inH || owMin >= owMax) {
              out.fill(0, dst, dst + outW);
              continue;
            }
            for (let ow = 0; ow < owMin; ow++) out[dst + ow] = 0;
            for (let ow = owMax; ow < outW; ow++) out[dst + ow] = 0;
            let src = plane + ih * inW + owMin * sw + kw - left;
            if (sw === 1) {
              for (let ow = owMin; ow < owMax; ow++, src++) out[dst + ow] = planar[src] as number;
            } else {
              for (let ow = owMin; ow < owMax; ow++, src += sw)
                out[dst + ow] = planar[src] as number;
            }
          }
        }
      }
    }
  }
}

/**
 * a: [xOffset (the chunk's first image), planarOffset, outOffset, ...g of
 * im2colColumns]; parts over the chunk's images: each part copies its
 * images channel-planar (unless inC is 1: then planarOffset = xOffset) and
 * writes their columns.
 */
export function im2colTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const g = a.subarray(3, 15);
  const inH = (g[0] as number) | 0;
  const inW = (g[1] as number) | 0;
  const inC = (g[2] as number) | 0;
  const images = (g[11] as number) | 0;
  const hw = inH * inW;
  const k = (g[5] as number) * (g[6] as number) * inC;
  const planar = new Float32Array(heap, a[1] as number, images * hw * inC);
  const out = new Float32Array(
    heap,
    a[2] as number,
    k * images * (g[3] as number) * (g[4] as number),
  );
  const r = partRange(images, part, parts);
  const p0 = r[0] as number;
  const p1 = r[1] as number;
  if (inC > 1) {
    const x = new Float32Array(heap, a[0] as number, images * hw * inC);
    transposeRange(x, hw, inC, planar, p0, p1, 0, hw, simd);
  }
  im2colColumns(planar, out, g, p0, p1);
}

/**
 * dx[p, ih, iw, :] += cols[(p*outH + oh)*outW + ow, (kh*fw + kw)*cin + :] for
 * images p in [p0, p1) of a chunk (dx and cols start at the chunk's first
 * image), for every tap that reads an in-image pixel.
 * g: [inH, inW, cin, outH, outW, fh, fw, sh, sw, top, left].
 */
export function col2imImages(
  cols: Float32Array,
  dx: Float32Array,
  g: ArrayLike<number>,
  p0: number,
  p1: number,
): void {
  const inH = (g[0] as number) | 0;
  const inW = (g[1] as number) | 0;
  const cin = (g[2] as number) | 0;
  const outH = (g[3] as number) | 0;
  const outW = (g[4] as number) | 0;
  const fh = (g[5] as number) | 0;
  const fw = (g[6] as number) | 0;
  const sh = (g[7] as number) | 0;
  const sw = (g[8] as number) | 0;
  const top = (g[9] as number) | 0;
  const left = (g[10] as number) | 0;
  const k = fh * fw * cin;
  let src = p0 * outH * outW * k;
  for (let p = p0; p < p1; p++) {
    const image = p * inH * inW * cin;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++, src += k) {
        for (let kh = 0; kh < fh; kh++) {
          const ih = oh * sh + kh - top;
          if (ih < 0 || ih >= inH) continue;
          for (let kw = 0; kw < fw; kw++) {
            const iw = ow * sw + kw - left;
            if (iw < 0 || iw >= inW) continue;
            const dst = image + (ih * inW + iw) * cin;
            const from = src + (kh * fw + kw) * cin;
            for (let ci = 0; ci < cin; ci++) {
              dx[dst + ci] = (dx[dst + ci] as number) + (cols[from + ci] as number);
            }
          }
        }
      }
    }
  }
}

/** a: [colsOffset, dxOffset, images, ...g of col2imImages]; parts over images. */
export function col2imTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
): void {
  const images = (a[2] as number) | 0;
  const g = a.subarray(3, 14);
  const k = (g[5] as number) * (g[6] as number) * (g[2] as number);
  const cols = new Float32Array(
    heap,
    a[0] as number,
    images * (g[3] as number) * (g[4] as number) * k,
  );
  const dx = new Float32Array(
    heap,
    a[1] as number,
    images * (g[0] as number) * (g[1] as number) * (g[2] as number),
  );
  const r = partRange(images, part, parts);
  col2imImages(cols, dx, g, r[0] as number, r[1] as number);
}

/* ---------------------------------------------------------- column sums */

/**
 * Adds the column sums of the [rows, inner] matrix at x[offset..] to
 * out[outOffset .. outOffset + inner): out[j] += sum_r x[offset + r*inner + j],
 * in tiles of 128 rows summed in local (float64) accumulators.
 */
export function addColumnSums(
  x: Float32Array,
  offset: number,
  rows: number,
  inner: number,
  out: Float64Array,
  outOffset: number,
): void {
  const quads = inner - (inner % 4);
  for (let r0 = 0; r0 < rows; r0 += 128) {
    const r1 = Math.min(rows, r0 + 128);
    for (let j = 0; j < quads; j += 4) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let r = r0, i = offset + r0 * inner + j; r < r1; r++, i += inner) {
        a0 += x[i] as number;
        a1 += x[i + 1] as number;
        a2 += x[i + 2] as number;
        a3 += x[i + 3] as number;
      }
      const o = outOffset + j;
      out[o] = (out[o] as number) + a0;
      out[o + 1] = (out[o + 1] as number) + a1;
      out[o + 2] = (out[o + 2] as number) + a2;
      out[o + 3] = (out[o + 3] as number) + a3;
    }
    for (let j = quads; j < inner; j++) {
      let a = 0;
      for (let r = r0, i = offset + r0 * inner + j; r < r1; r++, i += inner) a += x[i] as number;
      out[outOffset + j] = (out[outOffset + j] as number) + a;
    }
  }
}

/**
 * a: [xOffset, outer, rows, inner]: x as [outer, rows, inner]; part p adds
 * the sums over its rows into scratch (float64) [p, outer, inner], zeroed
 * first.
 */
export function columnSumsTask(
  heap: ArrayBufferLike,
  scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
): void {
  const outer = (a[1] as number) | 0;
  const rows = (a[2] as number) | 0;
  const inner = (a[3] as number) | 0;
  const x = new Float32Array(heap, a[0] as number, outer * rows * inner);
  const acc = new Float64Array(scratch, part * outer * inner * 8, outer * inner);
  acc.fill(0);
  const r = partRange(rows, part, parts);
  const r0 = r[0] as number;
  for (let o = 0; o < outer; o++) {
    addColumnSums(x, (o * rows + r0) * inner, (r[1] as number) - r0, inner, acc, o * inner);
  }
}

/* --------------------------------------------------- batch norm gradient */

/**
 * s1[j] += sum_r dy[r, j], s2[j] += sum_r dy[r, j] * (x[r, j] - mean[j]) over
 * rows [r0, r1) of x and dy viewed as [rows, c]. Tiles of 128 rows, four
 * channels at a time in local (float64) accumulators: ~3x faster than a
 * plain loop that updates s1/s2 in place.
 */
export function batchNormGradSumsRows(
  x: Float32Array,
  dy: Float32Array,
  mean: Float32Array,
  c: number,
  s1: Float64Array,
  s2: Float64Array,
  rowStart: number,
  rowEnd: number,
): void {
  const quads = c - (c % 4);
  for (let r0 = rowStart; r0 < rowEnd; r0 += 128) {
    const r1 = Math.min(rowEnd, r0 + 128);
    for (let j = 0; j < quads; j += 4) {
      const m0 = mean[j] as number;
      const m1 = mean[j + 1] as number;
      const m2 = mean[j + 2] as number;
      const m3 = mean[j + 3] as number;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let r = r0, i = r0 * c + j; r < r1; r++, i += c) {
        const d0 = dy[i] as number;
        const d1 = dy[i + 1] as number;
        const d2 = dy[i + 2] as number;
        const d3 = dy[i + 3] as number;
        a0 += d0;
        a1 += d1;
        a2 += d2;
        a3 += d3;
        b0 += d0 * ((x[i] as number) - m0);
        b1 += d1 * ((x[i + 1] as number) - m1);
        b2 += d2 * ((x[i + 2] as number) - m2);
        b3 += d3 * ((x[i + 3] as number) - m3);
      }
      s1[j] = (s1[j] as number) + a0;
      s1[j + 1] = (s1[j + 1] as number) + a1;
      s1[j + 2] = (s1[j + 2] as number) + a2;
      s1[j + 3] = (s1[j + 3] as number) + a3;
      s2[j] = (s2[j] as number) + b0;
      s2[j + 1] = (s2[j + 1] as number) + b1;
      s2[j + 2] = (s2[j + 2] as number) + b2;
      s2[j + 3] = (s2[j + 3] as number) + b3;
    }
    for (let j = quads; j < c; j++) {
      const m = mean[j] as number;
      let a = 0;
      let b = 0;
      for (let r = r0, i = r0 * c + j; r < r1; r++, i += c) {
        const d = dy[i] as number;
        a += d;
        b += d * ((x[i] as number) - m);
      }
      s1[j] = (s1[j] as number) + a;
      s2[j] = (s2[j] as number) + b;
    }
  }
}

/** batchNormGradSumsRows over all rows of x (x.length / c). */
export function batchNormGradSums(
  x: Float32Array,
  dy: Float32Array,
  mean: Float32Array,
  c: number,
  s1: Float64Array,
  s2: Float64Array,
): void {
  batchNormGradSumsRows(x, dy, mean, c, s1, s2, 0, x.length / c);
}

/**
 * a: [xOffset, dyOffset, meanOffset, rows, c]; part p writes its sums into
 * scratch (float64) [p, 2, c]: s1 then s2.
 */
export function batchNormGradSumsTask(
  heap: ArrayBufferLike,
  scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
): void {
  const rows = (a[3] as number) | 0;
  const c = (a[4] as number) | 0;
  const x = new Float32Array(heap, a[0] as number, rows * c);
  const dy = new Float32Array(heap, a[1] as number, rows * c);
  const mean = new Float32Array(heap, a[2] as number, c);
  const s1 = new Float64Array(scratch, part * 2 * c * 8, c);
  const s2 = new Float64Array(scratch, (part * 2 + 1) * c * 8, c);
  s1.fill(0);
  s2.fill(0);
  const r = partRange(rows, part, parts);
  batchNormGradSumsRows(x, dy, mean, c, s1, s2, r[0] as number, r[1] as number);
}

/* -------------------------------------------- batch norm in training (wasm) */

/**
 * s1[j] += sum_r d, s2[j] += sum_r d * d with d = x[r, j] - shift[j], over
 * rows [r0, r1) of x viewed as [rows, c]: the per-channel moments in one
 * pass. Shifting by a value of each channel (its first row) keeps the
 * float64 sums well conditioned for data far from zero, so that
 * var = (s2 - s1^2 / n) / n loses nothing a two-pass computation keeps.
 * Tiles of 128 rows, four channels at a time in local accumulators.
 */
export function shiftedMomentsRows(
  x: Float32Array,
  shift: Float32Array,
  c: number,
  s1: Float64Array,
  s2: Float64Array,
  rowStart: number,
  rowEnd: number,
): void {
  const quads = c - (c % 4);
  for (let r0 = rowStart; r0 < rowEnd; r0 += 128) {
    const r1 = Math.min(rowEnd, r0 + 128);
    for (let j = 0; j < quads; j += 4) {
      const k0 = shift[j] as number;
      const k1 = shift[j + 1] as number;
      const k2 = shift[j + 2] as number;
      const k3 = shift[j + 3] as number;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let r = r0, i = r0 * c + j; r < r1; r++, i += c) {
        const d0 = (x[i] as number) - k0;
        const d1 = (x[i + 1] as number) - k1;
        const d2 = (x[i + 2] as number) - k2;
        const d3 = (x[i + 3] as number) - k3;
        a0 += d0;
        a1 += d1;
        a2 += d2;
        a3 += d3;
        b0 += d0 * d0;
        b1 += d1 * d1;
        b2 += d2 * d2;
        b3 += d3 * d3;
      }
      s1[j] = (s1[j] as number) + a0;
      s1[j + 1] = (s1[j + 1] as number) + a1;
      s1[j + 2] = (s1[j + 2] as number) + a2;
      s1[j + 3] = (s1[j + 3] as number) + a3;
      s2[j] = (s2[j] as number) + b0;
      s2[j + 1] = (s2[j + 1] as number) + b1;
      s2[j + 2] = (s2[j + 2] as number) + b2;
      s2[j + 3] = (s2[j + 3] as number) + b3;
    }
    for (let j = quads; j < c; j++) {
      const k = shift[j] as number;
      let a = 0;
      let b = 0;
      for (let r = r0, i = r0 * c + j; r < r1; r++, i += c) {
        const d = (x[i] as number) - k;
        a += d;
        b += d * d;
      }
      s1[j] = (s1[j] as number) + a;
      s2[j] = (s2[j] as number) + b;
    }
  }
}

/**
 * a: [xOffset, rows, c]; the shift is x's first row. Part p writes its
 * sums into scratch (float64) [p, 2, c]: s1 then s2.
 */
export function shiftedMomentsTask(
  heap: ArrayBufferLike,
  scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
): void {
  const rows = (a[1] as number) | 0;
  const c = (a[2] as number) | 0;
  const x = new Float32Array(heap, a[0] as number, rows * c);
  const shift = new Float32Array(heap, a[0] as number, c);
  const s1 = new Float64Array(scratch, part * 2 * c * 8, c);
  const s2 = new Float64Array(scratch, (part * 2 + 1) * c * 8, c);
  s1.fill(0);
  s2.fill(0);
  const r = partRange(rows, part, parts);
  shiftedMomentsRows(x, shift, c, s1, s2, r[0] as number, r[1] as number);
}

/**
 * out = a * k0[j] + b * k1[j] + k2[j] for rows [r0, r1) of a, b, out viewed
 * as [rows, c] (coef is [>= 3, c]), every operation rounded to float32 (as
 * wasm-simd.ts's affine2, which runs it when c is a multiple of 4).
 */
export function channelAffine2Rows(
  a: Float32Array,
  b: Float32Array,
  coef: Float32Array,
  c: number,
  out: Float32Array,
  r0: number,
  r1: number,
): void {
  const f = Math.fround;
  for (let r = r0, i = r0 * c; r < r1; r++) {
    for (let j = 0; j < c; j++, i++) {
      const ak = f((a[i] as number) * (coef[j] as number));
      const bk = f((b[i] as number) * (coef[c + j] as number));
      out[i] = f(ak + bk) + (coef[2 * c + j] as number);
    }
  }
}

/** a: [aOffset, bOffset, coefOffset, outOffset, rows, c]; parts over rows. */
export function channelAffine2Task(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const rows = (a[4] as number) | 0;
  const c = (a[5] as number) | 0;
  const r = partRange(rows, part, parts);
  const r0 = r[0] as number;
  const r1 = r[1] as number;
  if (simd && c % 4 === 0) {
    const skip = r0 * c * 4;
    const n = (r1 - r0) * c;
    simd.affine2(
      (a[0] as number) + skip,
      (a[1] as number) + skip,
      a[2] as number,
      (a[3] as number) + skip,
      n,
      c,
    );
    return;
  }
  const x = new Float32Array(heap, a[0] as number, rows * c);
  const y = new Float32Array(heap, a[1] as number, rows * c);
  const coef = new Float32Array(heap, a[2] as number, 3 * c);
  const out = new Float32Array(heap, a[3] as number, rows * c);
  channelAffine2Rows(x, y, coef, c, out, r0, r1);
}

/**
 * out = (x - m[j]) * k[j] + o[j] for rows [r0, r1) of x, out viewed as
 * [rows, c] (coef rows m, k, o), rounded to float32 after each operation
 * (as wasm-simd.ts's centredScale).
 */
export function centredScaleRows(
  x: Float32Array,
  coef: Float32Array,
  c: number,
  out: Float32Array,
  r0: number,
  r1: number,
): void {
  const f = Math.fround;
  for (let r = r0, i = r0 * c; r < r1; r++) {
    for (let j = 0; j < c; j++, i++) {
      const d = f((x[i] as number) - (coef[j] as number));
      out[i] = f(d * (coef[c + j] as number)) + (coef[2 * c + j] as number);
    }
  }
}

/** a: [xOffset, coefOffset, outOffset, rows, c]; parts over rows. */
export function centredScaleTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const rows = (a[3] as number) | 0;
  const c = (a[4] as number) | 0;
  const r = partRange(rows, part, parts);
  const r0 = r[0] as number;
  const r1 = r[1] as number;
  if (simd && c % 4 === 0) {
    const skip = r0 * c * 4;
    simd.centredScale(
      (a[0] as number) + skip,
      a[1] as number,
      (a[2] as number) + skip,
      (r1 - r0) * c,
      c,
    );
    return;
  }
  const x = new Float32Array(heap, a[0] as number, rows * c);
  const coef = new Float32Array(heap, a[1] as number, 3 * c);
  const out = new Float32Array(heap, a[2] as number, rows * c);
  centredScaleRows(x, coef, c, out, r0, r1);
}

/**
 * [e0, e1) of n elements for part `part` of `parts`, cut at multiples of 4
 * (the SIMD loops' step); the last part ends at n.
 */
export function quadRange(n: number, part: number, parts: number): number[] {
  const r = partRange(n >> 2, part, parts);
  return [(r[0] as number) * 4, part === parts - 1 ? n : (r[1] as number) * 4];
}

/** a: [dyOffset, xOffset, outOffset, n]: out = x > 0 ? dy : 0 (ReLU's gradient); parts over elements. */
export function reluGradTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const n = (a[3] as number) | 0;
  const r = quadRange(n, part, parts);
  let e = r[0] as number;
  const e1 = r[1] as number;
  const quads = (e1 - e) & ~3;
  if (simd && quads > 0) {
    simd.reluGrad(
      (a[0] as number) + e * 4,
      (a[1] as number) + e * 4,
      (a[2] as number) + e * 4,
      quads,
    );
    e += quads;
  }
  if (e === e1) return;
  const dy = new Float32Array(heap, a[0] as number, n);
  const x = new Float32Array(heap, a[1] as number, n);
  const out = new Float32Array(heap, a[2] as number, n);
  for (; e < e1; e++) out[e] = (x[e] as number) > 0 ? (dy[e] as number) : 0;
}

/** a: [xOffset, outOffset, n]: out = max(x, 0) (ReLU; NaN stays NaN); parts over elements. */
export function reluTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const n = (a[2] as number) | 0;
  const r = quadRange(n, part, parts);
  let e = r[0] as number;
  const e1 = r[1] as number;
  const quads = (e1 - e) & ~3;
  if (simd && quads > 0) {
    simd.relu((a[0] as number) + e * 4, (a[1] as number) + e * 4, quads);
    e += quads;
  }
  if (e === e1) return;
  const x = new Float32Array(heap, a[0] as number, n);
  const out = new Float32Array(heap, a[1] as number, n);
  for (; e < e1; e++) out[e] = Math.max(x[e] as number, 0);
}

/**
 * a: [xOffset, yOffset, outOffset, n, alpha, beta] (alpha, beta float32
 * values): out = alpha * x + beta * y, rounded to float32 after each
 * operation; parts over elements.
 */
export function axpbyTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const n = (a[3] as number) | 0;
  const alpha = a[4] as number;
  const beta = a[5] as number;
  const r = quadRange(n, part, parts);
  let e = r[0] as number;
  const e1 = r[1] as number;
  const quads = (e1 - e) & ~3;
  if (simd && quads > 0) {
    simd.axpby(
      (a[0] as number) + e * 4,
      (a[1] as number) + e * 4,
      (a[2] as number) + e * 4,
      quads,
      alpha,
      beta,
    );
    e += quads;
  }
  if (e === e1) return;
  const x = new Float32Array(heap, a[0] as number, n);
  const y = new Float32Array(heap, a[1] as number, n);
  const out = new Float32Array(heap, a[2] as number, n);
  const f = Math.fround;
  for (; e < e1; e++) out[e] = f(alpha * (x[e] as number)) + f(beta * (y[e] as number));
}

/**
 * a: [xOffset, n]: part p writes the sum of squares of its elements
 * (float64, four interleaved accumulators) into scratch (float64) [p].
 */
export function sumSquaresTask(
  heap: ArrayBufferLike,
  scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const n = (a[1] as number) | 0;
  const x = new Float32Array(heap, a[0] as number, n);
  const r = quadRange(n, part, parts);
  const e0 = r[0] as number;
  const e1 = r[1] as number;
  const quadEnd = e0 + ((e1 - e0) & ~3);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  if (simd && quadEnd > e0) {
    // The same four sums, two lanes at a time (wasm-simd.ts): the same bits.
    const sums = simd.sumSquares((a[0] as number) + e0 * 4, quadEnd - e0);
    s0 = sums[0];
    s1 = sums[1];
    s2 = sums[2];
    s3 = sums[3];
  } else {
    for (let i = e0; i < quadEnd; i += 4) {
      const v0 = x[i] as number;
      const v1 = x[i + 1] as number;
      const v2 = x[i + 2] as number;
      const v3 = x[i + 3] as number;
      s0 += v0 * v0;
      s1 += v1 * v1;
      s2 += v2 * v2;
      s3 += v3 * v3;
    }
  }
  for (let i = quadEnd; i < e1; i++) s0 += (x[i] as number) * (x[i] as number);
  new Float64Array(scratch, part * 8, 1)[0] = s0 + s1 + (s2 + s3);
}

/* ----------------------------------------------------------------- matmul */

/**
 * C[i, j] = sum over p of A[i, p] * B[p, j] for rows [r0, r1) and columns
 * [c0, c1), in JS: p in order, each product and sum rounded to float32 (the
 * same per element as wasm-simd.ts's gemm8 / gemm4). A's (i, p) is at
 * i * rs + p * ps (A [m, k]: rs = k, ps = 1; A^T stored [k, m]: rs = 1, ps = m).
 */
export function gemmBlockJs(
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  k: number,
  n: number,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  rs = k,
  ps = 1,
): void {
  for (let i = r0; i < r1; i++) {
    const ai = i * rs;
    for (let j = c0; j < c1; j++) {
      let acc = 0;
      for (let p = 0, ap = ai, bp = j; p < k; p++, ap += ps, bp += n) {
        acc = Math.fround(acc + Math.fround((A[ap] as number) * (B[bp] as number)));
      }
      C[i * n + j] = acc;
    }
  }
}

/**
 * a: [aOffset, bOffset, cOffset, m, k, n, transposeA]: C [m, n] = A [m, k] x
 * B [k, n], row-major, k >= 1; with transposeA (1) the operand is stored
 * [k, m] and read in place (a weight gradient's x^T dy without copying x).
 * Parts over blocks of 8 columns when C has at least 64 columns, else over
 * blocks of 4 rows; each part runs the SIMD blocks (gemm8, gemm4) and the
 * ragged edges (gemm1). Every element is computed the same way whatever
 * the part it falls in or A's layout: results do not depend on the parts,
 * nor on the threads.
 */
export function gemmTask(
  heap: ArrayBufferLike,
  _scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
): void {
  const aOff = a[0] as number;
  const bOff = a[1] as number;
  const cOff = a[2] as number;
  const m = (a[3] as number) | 0;
  const k = (a[4] as number) | 0;
  const n = (a[5] as number) | 0;
  // A's strides in elements: between rows i, and between terms p.
  const transposed = a[6] === 1;
  const rs = transposed ? 1 : k;
  const ps = transposed ? m : 1;
  let r0 = 0;
  let r1 = m;
  let c0 = 0;
  let c1 = n;
  if (n >= 64) {
    const r = partRange(Math.ceil(n / 8), part, parts);
    c0 = (r[0] as number) * 8;
    c1 = Math.min(n, (r[1] as number) * 8);
  } else {
    const r = partRange(Math.ceil(m / 4), part, parts);
    r0 = (r[0] as number) * 4;
    r1 = Math.min(m, (r[1] as number) * 4);
  }
  if (r0 >= r1 || c0 >= c1) return;
  if (simd) {
    const rq = r0 + ((r1 - r0) & ~3);
    const rows = rq - r0;
    const aRows = aOff + r0 * rs * 4;
    const cRows = cOff + r0 * n * 4;
    let cq = c0;
    if (rows > 0) {
      const c8 = c0 + ((c1 - c0) & ~7);
      if (c8 > c0) simd.gemm8(aRows, bOff, cRows, rows, k, n, c0, c8, rs * 4, ps * 4);
      cq = c8;
      if (c1 - cq >= 4) {
        simd.gemm4(aRows, bOff, cRows, rows, k, n, cq, cq + 4, rs * 4, ps * 4);
        cq += 4;
      }
      // Columns the blocks left, in their rows; then the rows they left.
      if (cq < c1) simd.gemm1(aRows, bOff, cRows, rows, k, n, cq, c1, rs * 4, ps * 4);
    }
    if (rq < r1) {
      const aRest = aOff + rq * rs * 4;
      simd.gemm1(aRest, bOff, cOff + rq * n * 4, r1 - rq, k, n, c0, c1, rs * 4, ps * 4);
    }
    return;
  }
  const A = new Float32Array(heap, aOff, m * k);
  const B = new Float32Array(heap, bOff, k * n);
  const C = new Float32Array(heap, cOff, m * n);
  gemmBlockJs(A, B, C, k, n, r0, r1, c0, c1, rs, ps);
}

/** Every function the pool's workers need, helpers included (the source they run). */
export const WORKER_FUNCTIONS = [
  partRange,
  maxPoolGradImages,
  maxPoolGradTask,
  transposeRange,
  transposeTask,
  im2colColumns,
  im2colTask,
  col2imImages,
  col2imTask,
  addColumnSums,
  columnSumsTask,
  batchNormGradSumsRows,
  batchNormGradSumsTask,
  shiftedMomentsRows,
  shiftedMomentsTask,
  channelAffine2Rows,
  channelAffine2Task,
  centredScaleRows,
  centredScaleTask,
  quadRange,
  reluGradTask,
  reluTask,
  axpbyTask,
  sumSquaresTask,
  gemmBlockJs,
  gemmTask,
] as const;

/** The tasks, by index (the number a worker is told to run). */
export const TASKS = [
  maxPoolGradTask,
  transposeTask,
  im2colTask,
  col2imTask,
  columnSumsTask,
  batchNormGradSumsTask,
  shiftedMomentsTask,
  channelAffine2Task,
  centredScaleTask,
  reluGradTask,
  reluTask,
  axpbyTask,
  sumSquaresTask,
  gemmTask,
] as const;

/**
 * What the pool calls: part `part` of `parts` of a kernel's work over the
 * heap, with the SIMD loops instantiated on that heap (null: none).
 */
export type Task = (
  heap: ArrayBufferLike,
  scratch: ArrayBufferLike,
  a: Float64Array,
  part: number,
  parts: number,
  simd: SimdExports | null,
) => void;
