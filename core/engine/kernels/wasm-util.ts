/**
 * Helpers shared by the wasm kernel overrides: typed views on the wasm heap,
 * and the wasm backend's own ("native") kernels that an override replaced,
 * kept so that the override can hand the cases it does not cover back to
 * them.
 */
import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from "@tensorflow/tfjs-core";

/** The parts of tfjs-backend-wasm's BackendWasm the overrides use. */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: "float32"): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

/**
 * A float32 view of a tensor in the wasm heap. Views are invalidated when
 * the heap grows (any makeOutput may grow it): allocate first, then view.
 */
export function heapF32(backend: WasmBackendLike, info: TensorInfo, who: string): Float32Array {
  const view = backend.typedArrayFromHeap(info);
  if (!(view instanceof Float32Array)) {
    throw new Error(`${who} (wasm): expected float32 data, got ${info.dtype}`);
  }
  return view;
}

/** The wasm kernels that overrides replaced, by kernel name. */
const natives = new Map<string, KernelConfig>();

/** Records the wasm backend's own kernel before an override replaces it. */
export function rememberNativeKernel(config: KernelConfig): void {
  natives.set(config.kernelName, config);
}

/** The wasm backend's own kernel for `kernelName`, as it was before any override. */
export function nativeWasmKernel(kernelName: string): KernelConfig | undefined {
  return natives.get(kernelName);
}

/** Runs the wasm backend's own kernel (the one an override replaced). */
export function runNative(
  kernelName: string,
  args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap },
): TensorInfo | TensorInfo[] {
  const k = natives.get(kernelName);
  if (!k) {
    throw new Error(
      `${kernelName} (wasm): the backend's own kernel is unknown (register the overrides ` +
        "through registerKernelOverrides, after loading tfjs-backend-wasm)",
    );
  }
  return (k.kernelFunc as KernelFunc)(args as Parameters<KernelFunc>[0]);
}

/**
 * A wasm kernel by name for use inside another kernel: the native one if an
 * override replaced it, else whatever is registered.
 */
export function wasmKernelFunc(kernelName: string): KernelFunc {
  const k = natives.get(kernelName) ?? getKernel(kernelName, "wasm");
  if (!k) throw new Error(`wasm kernel ${kernelName} is not registered`);
  return k.kernelFunc;
}

/** Calls a kernel function and returns its single output. */
export function one(out: TensorInfo | TensorInfo[]): TensorInfo {
  if (Array.isArray(out)) {
    const [first] = out;
    if (!first || out.length !== 1) throw new Error("expected one output");
    return first;
  }
  return out;
}
