/**
 * tfjs-layers' BatchNormalization with the training pass of
 * core/engine/kernels/batchnorm-train.ts (one moments kernel, one gradient
 * in closed form: ~20 kernels per layer and step instead of ~55).
 *
 * It is tfjs-layers' own class underneath (same weights gamma, beta,
 * moving_mean, moving_variance; same class name, config and inference), so
 * checkpoints and saved models are unchanged. Only `call` in training mode,
 * normalising over all but the last axis, takes the fused path, and only on
 * a backend that has its kernels (cpu, wasm, webgpu); everything else goes
 * to tfjs-layers' code.
 */
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { batchNormTrain, batchNormTrainAvailable } from "../engine/kernels/batchnorm-train.js";
import { axpby } from "../engine/kernels/fused-update.js";

type BatchNormalization = ReturnType<typeof tfl.layers.batchNormalization>;
type BatchNormalizationArgs = NonNullable<Parameters<typeof tfl.layers.batchNormalization>[0]>;
type Kwargs = Parameters<BatchNormalization["call"]>[1];

/**
 * The fields of tfjs-layers' BatchNormalization that `call` needs. They are
 * private in its type declarations (not at run time); read through this view.
 */
interface BatchNormalizationFields {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: tfl.LayerVariable;
  beta?: tfl.LayerVariable;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

// tfjs-layers exports the factory, not the class: take the constructor from
// an instance (of the same module instance the rest of the app uses).
const BatchNormalizationClass = Object.getPrototypeOf(tfl.layers.batchNormalization({}))
  .constructor as new (
  args?: BatchNormalizationArgs,
) => BatchNormalization;

/**
 * Moving average v * momentum + value * (1 - momentum): tfjs-layers'
 * v - (v - value) * (1 - momentum) up to rounding, in one fused kernel
 * (three small ones before).
 */
function updateMovingAverage(v: tfl.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    v.write(axpby(v.read(), value, momentum, 1 - momentum));
  });
}

export class FusedBatchNormalization extends BatchNormalizationClass {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const f = this as unknown as BatchNormalizationFields;
    const lastAxis = x !== undefined && (f.axis === -1 || f.axis === x.rank - 1);
    if (
      kwargs.training !== true ||
      x === undefined ||
      !lastAxis ||
      !f.gamma ||
      !f.beta ||
      !batchNormTrainAvailable(x)
    ) {
      return super.call(inputs, kwargs);
    }
    const { gamma, beta } = f;
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTrain(x, gamma.read(), beta.read(), f.epsilon);
      updateMovingAverage(f.movingMean, mean, f.momentum);
      updateMovingAverage(f.movingVariance, variance, f.momentum);
      return y;
    });
  }
}

/** A batch-normalisation layer (tfjs-layers' arguments). */
export function batchNormalization(args: BatchNormalizationArgs): FusedBatchNormalization {
  return new FusedBatchNormalization(args);
}
