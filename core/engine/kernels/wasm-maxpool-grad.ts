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
 * The loop is maxPoolGradImages (wasm-parallel-tasks.ts), split over images
 * on the kernel pool's threads when the backend has them (wasm-parallel.ts).
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
import { runTask } from "./wasm-parallel.js";
import { maxPoolGradTask } from "./wasm-parallel-tasks.js";
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
  const offset = (t: TensorInfo) => heapF32(backend, t, WHO).byteOffset;
  const g = [n, inH, inW, c, outH, outW, sh, sw, fh, fw, top, left];
  // Parts over images (windows never cross images): on the kernel pool's threads.
  runTask(
    anyBackend,
    maxPoolGradTask,
    [offset(input), offset(dy), offset(dx), ...g],
    n * inH * inW * c,
  );
  return dx;
};

export const wasmMaxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: "wasm",
  kernelFunc: wasmMaxPoolGrad,
};
