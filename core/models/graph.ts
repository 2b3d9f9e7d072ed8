/**
 * The architectures as a plain graph (a list of layers with their inputs and
 * shapes), for engines that build the model themselves: the torch engine's
 * Python side (python/sgd_studio_torch/models.py) turns it into an
 * nn.Module. One description of each model (architectures.ts), so both
 * engines train the same layers; parameter counts are checked equal in
 * core/engine/torch/torch.test.ts.
 */
import {
  type ConvOptions,
  CountingBuilder,
  type DenseOptions,
  type NetBuilder,
  type ShapeOnly,
} from "./builder.js";

export interface GraphNode {
  op:
    | "input"
    | "conv"
    | "batchNorm"
    | "relu"
    | "add"
    | "maxPool"
    | "globalAvgPool"
    | "flatten"
    | "dense"
    | "dropout";
  name: string;
  /** Indices of the nodes whose outputs this one takes. */
  inputs: number[];
  /** Input shape (HWC, no batch dimension) of the first input. */
  in: number[];
  /** Output shape. */
  out: number[];
  [option: string]: unknown;
}

export interface ModelGraph {
  nodes: GraphNode[];
  /** Trainable parameters (CountingBuilder's count, for the other engine to match). */
  trainable: number;
}

interface Ref {
  id: number;
  shape: ShapeOnly;
}

/** Records every layer as a node while CountingBuilder works out the shapes. */
export class GraphBuilder implements NetBuilder<Ref> {
  readonly nodes: GraphNode[] = [];
  readonly counter = new CountingBuilder();

  private node(
    op: GraphNode["op"],
    name: string,
    inputs: Ref[],
    out: ShapeOnly,
    extra: Record<string, unknown> = {},
  ): Ref {
    this.nodes.push({
      op,
      name,
      inputs: inputs.map((r) => r.id),
      in: inputs[0] ? [...inputs[0].shape.shape] : [...out.shape],
      out: [...out.shape],
      ...extra,
    });
    return { id: this.nodes.length - 1, shape: out };
  }

  input(shape: number[], name: string): Ref {
    return this.node("input", name, [], this.counter.input(shape));
  }
  conv(x: Ref, o: ConvOptions): Ref {
    return this.node("conv", o.name, [x], this.counter.conv(x.shape, o), {
      filters: o.filters,
      kernel: o.kernel,
      strides: o.strides ?? 1,
      useBias: o.useBias ?? false,
    });
  }
  batchNorm(x: Ref, name: string): Ref {
    return this.node("batchNorm", name, [x], this.counter.batchNorm(x.shape));
  }
  relu(x: Ref, name: string): Ref {
    return this.node("relu", name, [x], this.counter.relu(x.shape));
  }
  add(a: Ref, b: Ref, name: string): Ref {
    return this.node("add", name, [a, b], this.counter.add(a.shape, b.shape));
  }
  maxPool(x: Ref, size: number, name: string): Ref {
    return this.node("maxPool", name, [x], this.counter.maxPool(x.shape, size), { size });
  }
  globalAvgPool(x: Ref, name: string): Ref {
    return this.node("globalAvgPool", name, [x], this.counter.globalAvgPool(x.shape));
  }
  flatten(x: Ref, name: string): Ref {
    return this.node("flatten", name, [x], this.counter.flatten(x.shape));
  }
  dense(x: Ref, o: DenseOptions): Ref {
    return this.node("dense", o.name, [x], this.counter.dense(x.shape, o), {
      units: o.units,
      activation: o.activation ?? "linear",
      init: o.init ?? "he",
    });
  }
  dropout(x: Ref, rate: number, name: string): Ref {
    return this.node("dropout", name, [x], this.counter.dropout(x.shape), { rate });
  }
}
