/**
 * Helpers shared by the project's kernels for tfjs-backend-cpu (the pure-JS
 * backend): its tensor values are plain typed arrays in backend.data.
 */
import type { TensorInfo } from "@tensorflow/tfjs-core";

/** The parts of tfjs-backend-cpu's MathBackendCPU the kernels use. */
export interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): TensorInfo;
}

/** A tensor's float32 values on the cpu backend (no copy). */
export function cpuF32(backend: CpuBackendLike, t: TensorInfo, who: string): Float32Array {
  const v = backend.data.get(t.dataId).values;
  if (!(v instanceof Float32Array)) throw new Error(`${who} (cpu): expected float32 data`);
  return v;
}
