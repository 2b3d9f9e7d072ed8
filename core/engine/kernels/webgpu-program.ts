/**
 * Small helpers to define and run our own WGSL programs on
 * tfjs-backend-webgpu (4.22), without importing that package (it must be
 * loaded only through core/engine/backends, after navigator.gpu is set).
 *
 * How the backend runs a program (runWebGPUProgram): it allocates the
 * output (program.outputShape, the given dtype), generates a shader whose
 * prefix declares
 *   - `result`: the output, binding 0, `array<f32>` (or `array<vec4<f32>>`
 *     with outputComponent 4);
 *   - one read-only storage array per name in variableNames, bindings 1..n,
 *     element type from variableComponents (default: outputComponent);
 *   - `uniforms`: NAN, INFINITY, each input's <name>Shape and
 *     <name>ShapeStrides, outShape, outShapeStrides, `size` (the output's
 *     element count / outputComponent, when program.size is set), then the
 *     fields listed in program.uniforms, filled from the uniform data passed
 *     to runWebGPUProgram, in the same order;
 *   - helpers such as setOutputAtIndex(i, value);
 * then appends getUserCode() and an entry point that calls `main(index)`
 * with the flat global thread index when the dispatch layout is flat.
 * Pipelines are cached by shaderKey (plus the inputs' ranks and dtypes), so
 * anything baked into the WGSL text must be part of shaderKey; values that
 * vary per call belong in uniforms.
 */

import type { DataType, TensorInfo } from "@tensorflow/tfjs-core";
import * as tf from "@tensorflow/tfjs-core";

/** The fields of tfjs-backend-webgpu's WebGPUProgram that our programs set. */
export interface WebGpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents?: number[];
  outputComponent?: number;
  uniforms?: string;
  workgroupSize: [number, number, number];
  size?: boolean;
  getUserCode: () => string;
}

/** One program-defined uniform value (in program.uniforms order). */
export interface ProgramUniform {
  type: "int32" | "float32" | "uint32";
  data: number[];
}

/** The parts of tfjs-backend-webgpu's WebGPUBackend used here. */
export interface WebGpuBackendLike {
  runWebGPUProgram(
    program: WebGpuProgram,
    inputs: TensorInfo[],
    outputDtype: DataType,
    uniforms?: ProgramUniform[],
  ): TensorInfo;
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  numDataIds(): number;
  incRef(dataId: object): void;
  /** Matmul's "few workgroups" threshold (8; 16 on Intel gen 12+). */
  thresholdToIncreaseWorkgroups?: number;
}

/** The webgpu backend object, checked to have runWebGPUProgram. */
export function asWebGpuBackend(backend: unknown, who: string): WebGpuBackendLike {
  const b = backend as Partial<WebGpuBackendLike> | null;
  if (!b || typeof b.runWebGPUProgram !== "function") {
    throw new Error(`${who}: expected the webgpu backend`);
  }
  return b as WebGpuBackendLike;
}

/** Threads per workgroup of the flat (1-D) programs. */
export const FLAT_WORKGROUP_SIZE = 64;

/**
 * A program with one thread per output element (per vec4 when
 * outputComponent is 4): `main(index: i32)` gets the flat index and must
 * check `index < uniforms.size` itself.
 */
export function flatProgram(spec: {
  shaderKey: string;
  outputShape: number[];
  variableNames: string[];
  /** Elements per thread / per input element: 1 or 4 (vec4<f32>). */
  component?: 1 | 4;
  /** Program-defined uniform fields, e.g. "rows : i32, cols : i32,". */
  uniforms?: string;
  /** The WGSL body of `fn main(index : i32)`. */
  main: string;
}): WebGpuProgram {
  const component = spec.component ?? 1;
  const elements = tf.util.sizeFromShape(spec.outputShape);
  if (elements % component !== 0) {
    throw new Error(`${spec.shaderKey}: ${elements} elements are not a multiple of ${component}`);
  }
  return {
    outputShape: spec.outputShape,
    shaderKey: `${spec.shaderKey}_c${component}`,
    dispatchLayout: { x: spec.outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(elements / component / FLAT_WORKGROUP_SIZE), 1, 1],
    variableNames: spec.variableNames,
    variableComponents: spec.variableNames.map(() => component),
    outputComponent: component,
    uniforms: spec.uniforms ?? "",
    workgroupSize: [FLAT_WORKGROUP_SIZE, 1, 1],
    size: true,
    getUserCode: () => `fn main(index : i32) {\n${spec.main}\n}\n`,
  };
}

/** int32 uniforms, one per value, in the order given. */
export function int32Uniforms(values: readonly number[]): ProgramUniform[] {
  return values.map((v) => {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
      throw new Error(`uniform ${v} is not an int32`);
    }
    return { type: "int32", data: [v] };
  });
}

/**
 * Runs a program and returns its output as a tracked tensor (tf.tidy and
 * dispose release its GPU buffer).
 */
export function runProgram(
  backend: WebGpuBackendLike,
  program: WebGpuProgram,
  inputs: TensorInfo[],
  uniforms: ProgramUniform[] = [],
  dtype: DataType = "float32",
): tf.Tensor {
  const out = backend.runWebGPUProgram(program, inputs, dtype, uniforms);
  return tf.engine().makeTensorFromTensorInfo(out);
}
