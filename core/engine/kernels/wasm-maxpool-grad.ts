/**
 * MaxPoolGrad for the wasm backend.
 *
 * Why: tfjs-backend-wasm 4.22's own MaxPoolGrad takes ~90 ms for the cnn's
 * 2x2 pool over [128,28,28,32] (about 30 ns per input element). Ours, in JS
 * over the wasm heap, walks the output positions once: for each window it
 * finds the first maximum of every channel (channels are contiguous in NHWC,
 * so a window tap reads one contiguous row of channels) and adds dy there.
 * First maximum in row-major window order, strict `>`, as tfjs's cpu
 * backend does (ties, e.g. zeros after a ReLU, go to the first tap; a window
 * without a finite maximum gets no gradient).
 *
 * Handed back to the backend's own kernel: non-float32 inputs.
 */
import {
  backend_util,
  type KernelConfig,
  type KernelFunc,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { heapF32, runNative, type WasmBackendLike } from "./wasm-util.js";

const WHO = "MaxPoolGrad";

export const wasmMaxPoolGrad: KernelFunc = (args) => {
  const { inputs, backend: anyBackend, attrs } = args;
  const backend = anyBackend as unknown as WasmBackendLike;
  const dy = inputs.dy as TensorInfo;
  const input = inputs.input as TensorInfo;
  if (dy.dtype !== "float32" || input.dtype !== "float32") return runNative(WHO, args);
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize: n, inHeight: inH, inWidth: inW, inChannels: c } = info;
  const { outHeight: outH, outWidth: outW, strideHeight: sh, strideWidth: sw } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const dx = backend.makeOutput([...input.shape], "float32");
  const x = heapF32(backend, input, WHO);
  const d = heapF32(backend, dy, WHO);
  const out = heapF32(backend, dx, WHO);
  out.fill(0);
  // Start of each in-image window tap's channel row, for the current window.
  const taps = new Int32Array(fh * fw);
  for (let b = 0; b < n; b++) {
    const image = b * inH * inW * c;
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
  return dx;
};

export const wasmMaxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: "wasm",
  kernelFunc: wasmMaxPoolGrad,
};
