/**
 * Model zoo: createModel(name, options) builds a tfjs-layers LayersModel
 * whose weights are tf.Variables (train them with a custom loop through
 * model.apply(x, { training: true }) and model.trainableWeights). Outputs are
 * logits. Initialisation is deterministic: every random initializer is
 * seeded from options.seed and the layer's name.
 */
import * as tfl from "@tensorflow/tfjs-layers";
import { MODEL_NAMES, type ModelName } from "../api/lists.js";
import { cnn, mlp, resnet18, wideResnet } from "./architectures.js";
import { CountingBuilder, LayersBuilder, type NetBuilder, type ParamCount } from "./builder.js";
import { GraphBuilder, type ModelGraph } from "./graph.js";

export type { GraphNode, ModelGraph } from "./graph.js";

/** The list of models is declared in core/api/lists.ts. */
export { MODEL_NAMES, type ModelName };

export interface ModelOptions {
  /** Input shape without the batch dimension, NHWC. Default per model (see DEFAULT_INPUT_SHAPE). */
  inputShape?: number[];
  /** Default 10. */
  numClasses?: number;
  /** Seed of the weight initialisation. Default 0. */
  seed?: number;
  /** Dropout rate where the architecture has one (cnn head, WRN blocks). Default 0. */
  dropout?: number;
}

/** Fashion-MNIST for the small models, CIFAR for the residual nets. */
export const DEFAULT_INPUT_SHAPE: Record<ModelName, number[]> = {
  mlp: [28, 28, 1],
  cnn: [28, 28, 1],
  resnet18: [32, 32, 3],
  "wrn-16-4": [32, 32, 3],
  "wrn-28-10": [32, 32, 3],
};

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

function build<T>(name: ModelName, b: NetBuilder<T>, options: ModelOptions): T {
  const o = {
    inputShape: options.inputShape ?? DEFAULT_INPUT_SHAPE[name],
    numClasses: options.numClasses ?? 10,
    dropout: options.dropout ?? 0,
  };
  switch (name) {
    case "mlp":
      return mlp(b, o);
    case "cnn":
      return cnn(b, o);
    case "resnet18":
      return resnet18(b, o);
    case "wrn-16-4":
      return wideResnet(b, { ...o, depth: 16, widen: 4 });
    case "wrn-28-10":
      return wideResnet(b, { ...o, depth: 28, widen: 10 });
  }
}

function check(name: string): ModelName {
  if (!isModelName(name)) {
    throw new Error(`Unknown model "${name}". Models: ${MODEL_NAMES.join(", ")}.`);
  }
  return name;
}

/** Builds the model with seeded initial weights on the active tfjs backend. */
export function createModel(name: string, options: ModelOptions = {}): tfl.LayersModel {
  const model = check(name);
  const b = new LayersBuilder(options.seed ?? 0);
  const outputs = build(model, b, options);
  return tfl.model({ inputs: b.inputs, outputs, name: model.replace(/-/g, "_") });
}

/** Parameter counts from the architecture alone (nothing is allocated). */
export function countModelParams(name: string, options: ModelOptions = {}): ParamCount {
  const b = new CountingBuilder();
  build(check(name), b, options);
  return { ...b.count };
}

/** Trainable and non-trainable parameter counts of a built model. */
export function modelParamCount(model: tfl.LayersModel): ParamCount {
  const size = (ws: tfl.LayerVariable[]) =>
    ws.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0);
  return { trainable: size(model.trainableWeights), nonTrainable: size(model.nonTrainableWeights) };
}

export type { ParamCount } from "./builder.js";
export { layerSeed } from "./builder.js";

/** The model as a plain layer graph (for the torch engine; see graph.ts). */
export function modelGraph(name: string, options: ModelOptions = {}): ModelGraph {
  const b = new GraphBuilder();
  build(check(name), b, options);
  return { nodes: b.nodes, trainable: b.counter.count.trainable };
}
