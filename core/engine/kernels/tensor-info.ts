/**
 * Small helpers on tfjs TensorInfos shared by the kernels of every backend.
 */
import type { NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";

/** A kernel's float32 input `name`, or an error naming the kernel (`who`) and the input. */
export function floatInput(inputs: NamedTensorInfoMap, name: string, who: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${who}: input ${name} is required`);
  if (t.dtype !== "float32") throw new Error(`${who}: input ${name} must be float32`);
  return t;
}

/** The same data seen with another shape (no new reference, nothing to dispose). */
export function reshapedView(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}
