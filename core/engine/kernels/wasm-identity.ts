/**
 * Identity, and Cast to the same dtype, for the wasm backend: share the
 * input's data instead of copying it.
 *
 * Why: tfjs-backend-wasm 4.22 copies the whole tensor for both (tf.clone,
 * and the many identities that the gradient tape, customGrad and
 * tfjs-layers insert; moments casts to float32 what already is float32):
 * ~80 copies per cnn training step, ~1.2 ms each for a [128,28,28,32]
 * activation, ~25 ms in all. Tensors are immutable and no wasm kernel
 * writes into its inputs, so the output can be the same data with one more
 * reference, which is what tfjs's cpu backend does for both kernels.
 *
 * Handed back to the backend's own kernels: strings, and casts that change
 * the dtype (the data must be converted).
 */
import {
  Cast,
  type CastAttrs,
  Identity,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from "@tensorflow/tfjs-core";
import { runNative, type WasmBackendLike } from "./wasm-util.js";

function share(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export const wasmIdentity: KernelFunc = (args) => {
  const x = args.inputs.x as TensorInfo;
  if (x.dtype === "string") return runNative(Identity, args);
  return share(args.backend as unknown as WasmBackendLike, x);
};

export const wasmCast: KernelFunc = (args) => {
  const x = args.inputs.x as TensorInfo;
  const { dtype } = args.attrs as unknown as CastAttrs;
  if (x.dtype === "string" || x.dtype !== dtype) return runNative(Cast, args);
  return share(args.backend as unknown as WasmBackendLike, x);
};

export const wasmIdentityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: "wasm",
  kernelFunc: wasmIdentity,
};

export const wasmCastConfig: KernelConfig = {
  kernelName: Cast,
  backendName: "wasm",
  kernelFunc: wasmCast,
};
