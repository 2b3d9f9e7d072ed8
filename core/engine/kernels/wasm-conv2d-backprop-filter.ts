/**
 * Conv2DBackpropFilter for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 ships no kernel for the filter gradient of a 2-D
 * convolution, so `tf.grad` of any conv net fails there. This kernel fills it
 * in: it lays the input's image patches out as a matrix in the wasm heap
 * (im2col, one row per output position, `fh*fw*cin` columns in the filter's
 * own [fh, fw, cin] order) and multiplies it with dy by the wasm backend's
 * own BatchMatMul kernel, so the heavy part runs in wasm:
 *
 *   dW[fh*fw*cin, cout] = patches[P, fh*fw*cin]^T x dy[P, cout],  P = N*outH*outW
 *
 * computed as (dy^T x patches)^T because that layout avoids the wasm
 * matmul's slow transposed-operand path. The patch matrix is built in chunks
 * of output rows so that its size stays bounded (MAX_PATCH_ELEMENTS); chunk
 * products are summed in JS.
 *
 * Limits (as in tfjs-core's conv2d gradient): NHWC only, dilations 1,
 * float32. Padding 'same' | 'valid' | number | explicit, any strides.
 */
import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";

/** The parts of tfjs-backend-wasm's BackendWasm this kernel uses. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: "float32"): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Default largest patch-matrix chunk, in float32 elements (16 MiB). */
export const MAX_PATCH_ELEMENTS = 4 * 1024 * 1024;
let maxPatchElements = MAX_PATCH_ELEMENTS;

/** Sets the patch-matrix chunk limit (tests use tiny ones); returns the previous limit. */
export function setPatchChunkLimit(elements: number): number {
  if (!Number.isInteger(elements) || elements < 1)
    throw new Error("limit must be a positive integer");
  const previous = maxPatchElements;
  maxPatchElements = elements;
  return previous;
}

function f32(backend: WasmBackendLike, info: TensorInfo): Float32Array {
  const view = backend.typedArrayFromHeap(info);
  if (!(view instanceof Float32Array)) {
    throw new Error(`Conv2DBackpropFilter (wasm): expected float32 data, got ${info.dtype}`);
  }
  return view;
}

/** Geometry of one convolution, as computed by tfjs-core. */
interface Geometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/**
 * Writes rows [p0, p0 + rows) of the im2col matrix of `x` into `out`
 * (row-major, `fh*fw*inC` columns). Out-of-image taps are zero.
 */
export function im2colRows(
  x: Float32Array,
  g: Geometry,
  p0: number,
  rows: number,
  out: Float32Array,
): void {
  const { inH, inW, inC, outH, outW, fh, fw, sh, sw, top, left } = g;
  const k = fh * fw * inC;
  const rowLen = fw * inC;
  const perImage = outH * outW;
  for (let r = 0; r < rows; r++) {
    const p = p0 + r;
    const b = Math.floor(p / perImage);
    const rem = p - b * perImage;
    const oh = Math.floor(rem / outW);
    const ow = rem - oh * outW;
    const ih0 = oh * sh - top;
    const iw0 = ow * sw - left;
    const rowBase = r * k;
    const imageBase = b * inH * inW * inC;
    const fullWidth = iw0 >= 0 && iw0 + fw <= inW;
    for (let kh = 0; kh < fh; kh++) {
      const ih = ih0 + kh;
      const dst = rowBase + kh * rowLen;
      if (ih < 0 || ih >= inH) {
        out.fill(0, dst, dst + rowLen);
        continue;
      }
      const lineBase = imageBase + ih * inW * inC;
      if (fullWidth) {
        // The fw*inC values of this filter row are contiguous in x.
        const src = lineBase + iw0 * inC;
        if (rowLen >= 32) {
          out.set(x.subarray(src, src + rowLen), dst);
        } else {
          for (let i = 0; i < rowLen; i++) out[dst + i] = x[src + i] as number;
        }
        continue;
      }
      for (let kw = 0; kw < fw; kw++) {
        const iw = iw0 + kw;
        const d = dst + kw * inC;
        if (iw < 0 || iw >= inW) {
          out.fill(0, d, d + inC);
        } else {
          const src = lineBase + iw * inC;
          for (let c = 0; c < inC; c++) out[d + c] = x[src + c] as number;
        }
      }
    }
  }
}

export const wasmConv2DBackpropFilter: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = anyBackend as unknown as WasmBackendLike;
  const x = inputs.x as TensorInfo | undefined;
  const dy = inputs.dy as TensorInfo | undefined;
  if (!x || !dy) throw new Error("Conv2DBackpropFilter (wasm): inputs x and dy are required");
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as Conv2DBackpropFilterAttrs;
  if (dataFormat === "NCHW") {
    throw new Error("Conv2DBackpropFilter (wasm): only NHWC is supported (got NCHW)");
  }
  if (x.dtype !== "float32" || dy.dtype !== "float32") {
    throw new Error("Conv2DBackpropFilter (wasm): only float32 is supported");
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  const g: Geometry = {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    fh: info.filterHeight,
    fw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
  if (dy.shape[1] !== g.outH || dy.shape[2] !== g.outW || dy.shape[3] !== g.outC) {
    throw new Error(
      `Conv2DBackpropFilter (wasm): dy shape [${dy.shape}] does not match the ` +
        `convolution's output [${g.batch},${g.outH},${g.outW},${g.outC}]`,
    );
  }
  const matMul = getKernel("BatchMatMul", "wasm");
  if (!matMul) throw new Error("Conv2DBackpropFilter (wasm): BatchMatMul kernel missing");

  const k = g.fh * g.fw * g.inC;
  const p = g.batch * g.outH * g.outW;
  const chunk = Math.max(1, Math.min(p, Math.floor(maxPatchElements / k)));
  const outShape = [...filterShape];
  // dW^T[cout, k] = dy_rows^T[cout, rows] x patches[rows, k], summed over
  // chunks. The wasm BatchMatMul is ~20x slower with transposeA, so dy's
  // rows are transposed here (they are small next to the patch matrix).
  const acc = new Float32Array(k * g.outC);
  for (let p0 = 0; p0 < p; p0 += chunk) {
    const rows = Math.min(chunk, p - p0);
    // Allocate first: malloc may grow the wasm heap and detach older views.
    const patches = backend.makeOutput([rows, k], "float32");
    const dyT = backend.makeOutput([g.outC, rows], "float32");
    let prod: TensorInfo | undefined;
    try {
      im2colRows(f32(backend, x), g, p0, rows, f32(backend, patches));
      const dyv = f32(backend, dy);
      const dyTv = f32(backend, dyT);
      const c = g.outC;
      for (let r = 0; r < rows; r++) {
        const src = (p0 + r) * c;
        for (let j = 0; j < c; j++) dyTv[j * rows + r] = dyv[src + j] as number;
      }
      prod = matMul.kernelFunc({
        inputs: { a: dyT, b: patches },
        backend: anyBackend,
        attrs: { transposeA: false, transposeB: false },
      }) as TensorInfo;
      const part = f32(backend, prod); // [cout, k]
      for (let j = 0; j < c; j++) {
        const rowBase = j * k;
        for (let i = 0; i < k; i++) {
          const o = i * c + j;
          acc[o] = (acc[o] as number) + (part[rowBase + i] as number);
        }
      }
    } finally {
      backend.disposeData(patches.dataId);
      backend.disposeData(dyT.dataId);
      if (prod) backend.disposeData(prod.dataId);
    }
  }
  const out = backend.makeOutput(outShape, "float32");
  f32(backend, out).set(acc);
  return out;
};

export const wasmConv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: wasmConv2DBackpropFilter,
};
