/**
 * One description of each architecture, two interpretations:
 *  - LayersBuilder builds it with @tensorflow/tfjs-layers (seeded weights);
 *  - CountingBuilder only tracks shapes and counts parameters, so the size of
 *    a model (e.g. WRN-28-10's 36.5M weights) is known without allocating it.
 * Architectures are written once against NetBuilder<T> (see the model files).
 */
import * as tfl from "@tensorflow/tfjs-layers";
import { batchNormalization } from "./batch-norm.js";

export interface ConvOptions {
  filters: number;
  kernel: number;
  strides?: number;
  name: string;
  /** Default false: every conv here is followed by batch norm. */
  useBias?: boolean;
}

export interface DenseOptions {
  units: number;
  name: string;
  activation?: "relu" | "linear";
  /** "he" for hidden layers (default), "glorot" for the logits layer. */
  init?: "he" | "glorot";
}

/** The layer vocabulary the architectures use. Convs are 'same'-padded, NHWC. */
export interface NetBuilder<T> {
  input(shape: number[], name: string): T;
  conv(x: T, o: ConvOptions): T;
  batchNorm(x: T, name: string): T;
  relu(x: T, name: string): T;
  add(a: T, b: T, name: string): T;
  maxPool(x: T, size: number, name: string): T;
  globalAvgPool(x: T, name: string): T;
  flatten(x: T, name: string): T;
  dense(x: T, o: DenseOptions): T;
  dropout(x: T, rate: number, name: string): T;
}

/** Batch-norm settings shared by all models (PyTorch's defaults). */
export const BN_MOMENTUM = 0.9;
export const BN_EPSILON = 1e-5;

/** 32-bit FNV-1a of the base seed and a layer name: a stable per-layer seed. */
export function layerSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  const text = `${seed}:${name}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

type Sym = tfl.SymbolicTensor;

function one(out: Sym | Sym[] | unknown): Sym {
  if (Array.isArray(out)) throw new Error("expected one output");
  return out as Sym;
}

/** Builds with tfjs-layers; every random initializer gets a seed derived from `seed`. */
export class LayersBuilder implements NetBuilder<Sym> {
  readonly inputs: Sym[] = [];
  constructor(readonly seed: number) {}

  private he(name: string) {
    return tfl.initializers.varianceScaling({
      scale: 2,
      mode: "fanIn",
      distribution: "normal",
      seed: layerSeed(this.seed, name),
    });
  }

  input(shape: number[], name: string): Sym {
    const x = tfl.input({ shape, name });
    this.inputs.push(x);
    return x;
  }
  conv(x: Sym, o: ConvOptions): Sym {
    return one(
      tfl.layers
        .conv2d({
          filters: o.filters,
          kernelSize: o.kernel,
          strides: o.strides ?? 1,
          padding: "same",
          useBias: o.useBias ?? false,
          kernelInitializer: this.he(o.name),
          name: o.name,
        })
        .apply(x),
    );
  }
  batchNorm(x: Sym, name: string): Sym {
    return one(
      batchNormalization({ axis: -1, momentum: BN_MOMENTUM, epsilon: BN_EPSILON, name }).apply(x),
    );
  }
  relu(x: Sym, name: string): Sym {
    return one(tfl.layers.activation({ activation: "relu", name }).apply(x));
  }
  add(a: Sym, b: Sym, name: string): Sym {
    return one(tfl.layers.add({ name }).apply([a, b]));
  }
  maxPool(x: Sym, size: number, name: string): Sym {
    return one(
      tfl.layers.maxPooling2d({ poolSize: size, strides: size, padding: "valid", name }).apply(x),
    );
  }
  globalAvgPool(x: Sym, name: string): Sym {
    return one(tfl.layers.globalAveragePooling2d({ name }).apply(x));
  }
  flatten(x: Sym, name: string): Sym {
    return one(tfl.layers.flatten({ name }).apply(x));
  }
  dense(x: Sym, o: DenseOptions): Sym {
    const seed = layerSeed(this.seed, o.name);
    const kernelInitializer =
      (o.init ?? "he") === "he" ? this.he(o.name) : tfl.initializers.glorotUniform({ seed });
    return one(
      tfl.layers
        .dense({
          units: o.units,
          activation: o.activation ?? "linear",
          kernelInitializer,
          name: o.name,
        })
        .apply(x),
    );
  }
  dropout(x: Sym, rate: number, name: string): Sym {
    return one(tfl.layers.dropout({ rate, seed: layerSeed(this.seed, name), name }).apply(x));
  }
}

/** A shape flowing through CountingBuilder (batch dimension omitted). */
export interface ShapeOnly {
  shape: number[];
}

export interface ParamCount {
  /** Weights the optimizer updates (PyTorch's `parameters()`). */
  trainable: number;
  /** Batch-norm moving mean and variance. */
  nonTrainable: number;
}

/** Tracks shapes and adds up parameters, allocating nothing. */
export class CountingBuilder implements NetBuilder<ShapeOnly> {
  readonly count: ParamCount = { trainable: 0, nonTrainable: 0 };
  private channels(x: ShapeOnly): number {
    const c = x.shape[x.shape.length - 1];
    if (c === undefined) throw new Error("empty shape");
    return c;
  }
  input(shape: number[]): ShapeOnly {
    return { shape: [...shape] };
  }
  conv(x: ShapeOnly, o: ConvOptions): ShapeOnly {
    const [h, w] = x.shape;
    if (h === undefined || w === undefined || x.shape.length !== 3)
      throw new Error("conv needs [h, w, c]");
    const s = o.strides ?? 1;
    this.count.trainable +=
      o.kernel * o.kernel * this.channels(x) * o.filters + (o.useBias ? o.filters : 0);
    return { shape: [Math.ceil(h / s), Math.ceil(w / s), o.filters] };
  }
  batchNorm(x: ShapeOnly): ShapeOnly {
    const c = this.channels(x);
    this.count.trainable += 2 * c;
    this.count.nonTrainable += 2 * c;
    return x;
  }
  relu(x: ShapeOnly): ShapeOnly {
    return x;
  }
  add(a: ShapeOnly, b: ShapeOnly): ShapeOnly {
    if (a.shape.join() !== b.shape.join()) {
      throw new Error(`add: shapes [${a.shape}] and [${b.shape}] differ`);
    }
    return a;
  }
  maxPool(x: ShapeOnly, size: number): ShapeOnly {
    const [h, w, c] = x.shape as [number, number, number];
    return { shape: [Math.floor(h / size), Math.floor(w / size), c] };
  }
  globalAvgPool(x: ShapeOnly): ShapeOnly {
    return { shape: [this.channels(x)] };
  }
  flatten(x: ShapeOnly): ShapeOnly {
    return { shape: [x.shape.reduce((a, b) => a * b, 1)] };
  }
  dense(x: ShapeOnly, o: DenseOptions): ShapeOnly {
    this.count.trainable += this.channels(x) * o.units + o.units;
    return { shape: [...x.shape.slice(0, -1), o.units] };
  }
  dropout(x: ShapeOnly): ShapeOnly {
    return x;
  }
}
