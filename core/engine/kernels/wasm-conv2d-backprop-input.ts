/**
 * Conv2DBackpropInput for the wasm backend, as a forward convolution.
 *
 * Why: tfjs-backend-wasm 4.22's own Conv2DBackpropInput is a plain C++ loop
 * nest, ~8x slower than its XNNPACK forward convolution of the same size
 * (the cnn's [128,14,14,64] dy with a 3x3x32x64 filter: ~550 ms against
 * ~65 ms). The input gradient of a convolution is itself a convolution:
 *
 *   dx = conv2d(upsample(dy), rot180(W)^T),  stride 1, explicit padding
 *
 * where upsample(dy) puts dy's rows and columns `stride` apart (zeros
 * between; nothing to do for stride 1), rot180(W)^T is the filter rotated by
 * 180 degrees with its in/out channels swapped ([fh, fw, cout, cin]), and the
 * padding is `fh - 1 - top` before and whatever makes the output `inH` after
 * (likewise for the width). That convolution runs on the wasm backend's own
 * (XNNPACK) Conv2D kernel.
 *
 * For narrow inputs (cin < COL2IM_MAX_CIN, e.g. a first layer on grey or
 * RGB images) that convolution would have cin output channels, which
 * XNNPACK computes poorly (~22 ms for the cnn's first layer, whose dx
 * nobody needs but tfjs-layers' fused conv computes anyway). There a matrix
 * product and col2im are used instead:
 *
 *   cols[P, fh*fw*cin] = dy[P, cout] x W^T[cout, fh*fw*cin]    (wasm BatchMatMul)
 *   dx = col2im(cols)   (each row's taps added into the pixels they read)
 *
 * ~4x faster there; for wide inputs the convolution wins (col2im's adds in
 * JS grow with cin).
 *
 * Handed back to the backend's own kernel: NCHW, dilations other than 1, and
 * (convolution route) geometries that would need negative padding (forward
 * padding larger than the filter), none of which a 'same'/'valid' NHWC conv
 * net produces.
 */
import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { runTask } from "./wasm-parallel.js";
import { col2imImages, col2imTask } from "./wasm-parallel-tasks.js";
import { heapF32, one, runNative, type WasmBackendLike, wasmKernelFunc } from "./wasm-util.js";

const WHO = "Conv2DBackpropInput";

/** Inputs with fewer channels than this take the matmul + col2im route. */
export const COL2IM_MAX_CIN = 8;

/** Largest column-matrix chunk for the col2im route, in float32 elements. */
const MAX_COLS_ELEMENTS = 4 * 1024 * 1024;

interface Geometry {
  n: number;
  inH: number;
  inW: number;
  cin: number;
  outH: number;
  outW: number;
  cout: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/** col2imImages' geometry array. */
function col2imGeometry(g: Geometry): number[] {
  return [g.inH, g.inW, g.cin, g.outH, g.outW, g.fh, g.fw, g.sh, g.sw, g.top, g.left];
}

/**
 * dx[b0 + b, ih, iw, :] += cols[(b*outH + oh)*outW + ow, (kh*fw + kw)*cin + :]
 * for every tap that reads an in-image pixel (ih = oh*sh + kh - top, ...).
 */
export function col2imAdd(
  cols: Float32Array,
  g: Geometry,
  b0: number,
  images: number,
  dx: Float32Array,
): void {
  const image = g.inH * g.inW * g.cin;
  col2imImages(cols, dx.subarray(b0 * image), col2imGeometry(g), 0, images);
}

function viaCol2im(
  backend: WasmBackendLike,
  anyBackend: unknown,
  dy: TensorInfo,
  filter: TensorInfo,
  g: Geometry,
): TensorInfo {
  const { n, inH, inW, cin, outH, outW, cout, fh, fw } = g;
  const k = fh * fw * cin;
  const perImage = outH * outW;
  const imagesPerChunk = Math.max(1, Math.min(n, Math.floor(MAX_COLS_ELEMENTS / (k * perImage))));
  const whole = imagesPerChunk >= n;
  const dx = backend.makeOutput([n, inH, inW, cin], "float32");
  const wT = backend.makeOutput([cout, k], "float32");
  try {
    // W viewed as [k, cout], transposed.
    const w = heapF32(backend, filter, WHO);
    const wt = heapF32(backend, wT, WHO);
    for (let i = 0; i < k; i++)
      for (let o = 0; o < cout; o++) wt[o * k + i] = w[i * cout + o] as number;
    heapF32(backend, dx, WHO).fill(0);
    for (let b0 = 0; b0 < n; b0 += imagesPerChunk) {
      const images = Math.min(imagesPerChunk, n - b0);
      const rows = images * perImage;
      const dyRows = whole
        ? { dataId: dy.dataId, shape: [rows, cout], dtype: dy.dtype }
        : backend.makeOutput([rows, cout], "float32");
      let cols: TensorInfo | undefined;
      try {
        if (!whole) {
          const start = b0 * perImage * cout;
          const src = heapF32(backend, dy, WHO).subarray(start, start + rows * cout);
          heapF32(backend, dyRows, WHO).set(src);
        }
        cols = one(
          wasmKernelFunc("BatchMatMul")({
            inputs: { a: dyRows, b: wT },
            backend: anyBackend as never,
            attrs: { transposeA: false, transposeB: false },
          }),
        );
        // Parts over images (each writes its own images of dx): on the kernel pool's threads.
        const at = (t: TensorInfo) => heapF32(backend, t, WHO).byteOffset;
        const dxChunk = at(dx) + b0 * inH * inW * cin * 4;
        const args = [at(cols), dxChunk, images, ...col2imGeometry(g)];
        runTask(anyBackend, col2imTask, args, rows * k);
      } finally {
        if (!whole) backend.disposeData(dyRows.dataId);
        if (cols) backend.disposeData(cols.dataId);
      }
    }
  } catch (e) {
    backend.disposeData(dx.dataId);
    throw e;
  } finally {
    backend.disposeData(wT.dataId);
  }
  return dx;
}

export const wasmConv2DBackpropInput: KernelFunc = (args) => {
  const { inputs, backend: anyBackend, attrs } = args;
  const backend = anyBackend as unknown as WasmBackendLike;
  const dy = inputs.dy as TensorInfo | undefined;
  const filter = inputs.filter as TensorInfo | undefined;
  if (!dy || !filter) throw new Error(`${WHO} (wasm): inputs dy and filter are required`);
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as Conv2DBackpropInputAttrs;
  if (dataFormat === "NCHW" || dy.dtype !== "float32" || filter.dtype !== "float32") {
    return runNative(WHO, args);
  }
  const info = backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  const { batchSize: n, inHeight: inH, inWidth: inW, inChannels: cin } = info;
  const { outHeight: outH, outWidth: outW, outChannels: cout } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  if (
    info.dilationHeight !== 1 ||
    info.dilationWidth !== 1 ||
    dy.shape[1] !== outH ||
    dy.shape[2] !== outW ||
    dy.shape[3] !== cout
  ) {
    return runNative(WHO, args);
  }
  if (cin < COL2IM_MAX_CIN) {
    const g = { n, inH, inW, cin, outH, outW, cout, fh, fw, sh, sw };
    return viaCol2im(backend, anyBackend, dy, filter, {
      ...g,
      top: info.padInfo.top,
      left: info.padInfo.left,
    });
  }
  const upH = (outH - 1) * sh + 1;
  const upW = (outW - 1) * sw + 1;
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  const bottom = inH - upH + info.padInfo.top;
  const right = inW - upW + info.padInfo.left;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return runNative(WHO, args);

  // Allocate everything first: an allocation may grow the heap and detach views.
  const rotated = backend.makeOutput([fh, fw, cout, cin], "float32");
  const strided = sh !== 1 || sw !== 1;
  const up = strided ? backend.makeOutput([n, upH, upW, cout], "float32") : dy;
  try {
    const w = heapF32(backend, filter, WHO);
    const r = heapF32(backend, rotated, WHO);
    // r[a, b, o, i] = w[fh-1-a, fw-1-b, i, o]
    for (let a = 0; a < fh; a++) {
      for (let b = 0; b < fw; b++) {
        const src = ((fh - 1 - a) * fw + (fw - 1 - b)) * cin * cout;
        const dst = (a * fw + b) * cout * cin;
        for (let o = 0; o < cout; o++) {
          for (let i = 0; i < cin; i++) r[dst + o * cin + i] = w[src + i * cout + o] as number;
        }
      }
    }
    if (strided) {
      const d = heapF32(backend, dy, WHO);
      const u = heapF32(backend, up, WHO);
      u.fill(0);
      for (let b = 0; b < n; b++) {
        for (let y = 0; y < outH; y++) {
          for (let x = 0; x < outW; x++) {
            const src = ((b * outH + y) * outW + x) * cout;
            const dst = ((b * upH + y * sh) * upW + x * sw) * cout;
            u.set(d.subarray(src, src + cout), dst);
          }
        }
      }
    }
    return one(
      wasmKernelFunc("Conv2D")({
        inputs: { x: up, filter: rotated },
        backend: anyBackend,
        attrs: {
          strides: [1, 1],
          pad: [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ],
          dataFormat: "NHWC",
          dilations: [1, 1],
        },
      }),
    );
  } finally {
    backend.disposeData(rotated.dataId);
    if (strided) backend.disposeData(up.dataId);
  }
};

export const wasmConv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: "wasm",
  kernelFunc: wasmConv2DBackpropInput,
};
