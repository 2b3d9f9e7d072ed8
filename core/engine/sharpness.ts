/**
 * Worst-case sharpness of a model at its current weights (docs/sharpness.md):
 *
 *     S = mean over batches B of  max_{d in D} L_B(w + d) - L_B(w)
 *
 * with D the adaptive box { ||d / |w| ||_inf <= rho } (scale-invariant,
 * Andriushchenko et al. 2023, the paper's Figure 3) or the plain L2 ball
 * { ||d||_2 <= rho }. The maximum is searched per batch by an auto-PGD style
 * ascent in u = d / s (s = |w| adaptive, 1 plain), where the set is a box or a
 * ball:
 *
 *     z      = P(u_k + eta * dir(g_u)),  g_u = s * grad L_B(w + s u_k)
 *              dir = sign (box) or g_u / ||g_u|| (ball)
 *     u_k+1  = z                                        (k = 0)
 *     u_k+1  = P(u_k + a (z - u_k) + (1 - a)(u_k - u_k-1))  (a = 0.75: momentum on the iterate)
 *
 * starting at u_0 = 0 with eta = 2 rho. At auto-PGD's checkpoints (22%, then
 * shrinking intervals of the iterations) the step halves when fewer than 75%
 * of the steps since the last checkpoint raised the best loss, or when
 * neither the step nor the best loss changed; the ascent then continues from
 * the best point so far (momentum reset). The batch's value is the best loss
 * seen minus L_B(w). Each iteration is one forward+backward pass; one more
 * forward evaluates the last iterate, so a batch costs `iterations`
 * forward+backward passes and one forward.
 *
 * The one-step (SAM-style) estimate is the same ascent with one iteration:
 * L_B(w + rho |w| sign g) - L_B(w).
 *
 * The loss is read through `loss()` (a closure over the variables), so the
 * same code measures a tfjs-layers model in inference mode (batch norm with
 * its running statistics, which are not perturbed) or any function of
 * variables (tests use quadratics). Variables are restored exactly afterwards.
 * tests/sharpness_torch.py is the same algorithm in PyTorch.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import type { SharpnessEvent } from "../api/events.js";
import {
  SHARPNESS_KEYS,
  type SharpnessSettings,
  type SharpnessValue,
  type SharpnessVariant,
} from "../api/sharpness.js";
import { augmentBatch } from "../data/augment.js";
import { Rng } from "../data/rng.js";
import type { Dataset } from "../data/types.js";

export {
  SHARPNESS_DEFAULTS,
  SHARPNESS_KEYS,
  SHARPNESS_VARIANTS,
  type SharpnessSettings,
  type SharpnessSettingsInput,
  SharpnessSettingsSchema,
  type SharpnessValue,
  type SharpnessVariant,
} from "../api/sharpness.js";

/** Momentum on the iterate (auto-PGD's alpha). */
export const ASCENT_MOMENTUM = 0.75;
/** Halve the step when fewer than this fraction of the steps since a checkpoint improved. */
export const MIN_UPDATE_RATIO = 0.75;

export interface AscentOptions {
  norm: "linf" | "l2";
  /** Scale the set by |w| (adaptive sharpness). */
  adaptive: boolean;
  rho: number;
  iterations: number;
}

/**
 * auto-PGD's checkpoints for n iterations (0-based iteration indices at
 * which the step size is reconsidered): p0 = 0, p1 = 0.22,
 * p_j+1 = p_j + max(p_j - p_j-1 - 0.03, 0.06), at ceil(p_j n).
 */
export function ascentCheckpoints(n: number): number[] {
  const p = [0, 0.22];
  const w = [0, Math.ceil(n * 0.22)];
  while ((w.at(-1) as number) < n && w.at(-1) !== w.at(-2)) {
    const a = p.at(-1) as number;
    const b = p.at(-2) as number;
    p.push(a + Math.max(a - b - 0.03, 0.06));
    w.push(Math.ceil((p.at(-1) as number) * n));
  }
  return w.slice(1);
}

/** Forward+backward passes (and forwards) one batch costs. */
export function passesPerBatch(iterations: number): { forwardBackward: number; forward: number } {
  return { forwardBackward: iterations, forward: 1 };
}

interface Point {
  /** u = d / s, one tensor per variable. */
  u: tf.Tensor[];
  loss: number;
  /** Gradient of L_B with respect to the weights at this point (null at the last iterate). */
  grads: tf.Tensor[] | null;
}

/**
 * The worst case for one batch: the variables must hold w0 on entry and hold
 * it again on return. `loss` computes L_B from the variables.
 */
export async function worstCaseOnBatch(
  variables: tf.Variable[],
  w0: tf.Tensor[],
  loss: () => tf.Scalar,
  options: AscentOptions,
  onPass?: () => void,
): Promise<{ initial: number; worst: number }> {
  const { rho, iterations, norm } = options;
  const scale: (tf.Tensor | null)[] = w0.map((w) => (options.adaptive ? tf.abs(w) : null));
  const checkpoints = new Set(ascentCheckpoints(iterations));
  const kept = new Set<tf.Tensor>();
  const keep = <T extends tf.Tensor>(t: T): T => {
    kept.add(t);
    return t;
  };
  const evaluate = async (u: tf.Tensor[] | null, withGrads: boolean): Promise<Point> => {
    if (u) {
      tf.tidy(() => {
        variables.forEach((v, i) => {
          const s = scale[i];
          const d = s ? tf.mul(s, u[i] as tf.Tensor) : (u[i] as tf.Tensor);
          v.assign(tf.add(w0[i] as tf.Tensor, d));
        });
      });
    }
    let value: tf.Scalar;
    let grads: tf.Tensor[] | null = null;
    if (withGrads) {
      const r = tf.variableGrads(loss, variables);
      value = r.value;
      grads = variables.map((v) => keep(r.grads[v.name] as tf.Tensor));
    } else {
      value = tf.tidy(loss);
    }
    const l = (await value.data())[0] as number;
    value.dispose();
    onPass?.();
    const point: Point = {
      u: u ?? variables.map((v) => keep(tf.zerosLike(v))),
      loss: l,
      grads,
    };
    return point;
  };

  /** P: the box |u| <= rho, or the ball ||u||_2 <= rho. */
  const project = (u: tf.Tensor[]): tf.Tensor[] =>
    tf.tidy(() => {
      if (norm === "linf") return u.map((t) => tf.clipByValue(t, -rho, rho));
      const total = tf.sqrt(tf.addN(u.map((t) => tf.sum(tf.square(t)))));
      const factor = tf.minimum(1, tf.div(rho, tf.maximum(total, 1e-30)));
      return u.map((t) => tf.mul(t, factor));
    });

  /** z = P(u + eta dir(g_u)). */
  const ascend = (p: Point, eta: number): tf.Tensor[] =>
    tf.tidy(() => {
      const gu = (p.grads as tf.Tensor[]).map((g, i) => {
        const s = scale[i];
        return s ? tf.mul(s, g) : g;
      });
      let dir: tf.Tensor[];
      if (norm === "linf") dir = gu.map((g) => tf.sign(g));
      else {
        const total = tf.sqrt(tf.addN(gu.map((g) => tf.sum(tf.square(g)))));
        const inv = tf.div(1, tf.add(total, 1e-12));
        dir = gu.map((g) => tf.mul(g, inv));
      }
      return project(p.u.map((t, i) => tf.add(t, tf.mul(dir[i] as tf.Tensor, eta))));
    });

  const start = await evaluate(null, true);
  const initial = start.loss;
  let best = start;
  let cur = start;
  let prevU: tf.Tensor[] = start.u;
  /** Frees every kept tensor the current point, the best point and u_k-1 no longer use. */
  const sweep = () => {
    const live = new Set<tf.Tensor>([
      ...cur.u,
      ...(cur.grads ?? []),
      ...best.u,
      ...(best.grads ?? []),
      ...prevU,
    ]);
    for (const t of kept) {
      if (!live.has(t)) {
        t.dispose();
        kept.delete(t);
      }
    }
  };
  let eta = 2 * rho;
  let prevEta = eta;
  let prevBestLoss = initial;
  let prevCheckpoint = 0;
  let updates = 0;
  try {
    for (let i = 0; i < iterations; i++) {
      const z = ascend(cur, eta);
      let next: tf.Tensor[];
      if (i === 0) next = z;
      else {
        const c = cur.u;
        const p = prevU;
        next = tf.tidy(() =>
          project(
            c.map((cj, j) =>
              tf.add(
                tf.add(cj, tf.mul(tf.sub(z[j] as tf.Tensor, cj), ASCENT_MOMENTUM)),
                tf.mul(tf.sub(cj, p[j] as tf.Tensor), 1 - ASCENT_MOMENTUM),
              ),
            ),
          ),
        );
        tf.dispose(z);
      }
      next.forEach(keep);
      // The last iterate needs no gradient: a forward pass only.
      const point = await evaluate(next, i < iterations - 1);
      prevU = cur.u;
      cur = point;
      if (point.loss > best.loss) {
        best = point;
        updates++;
      }
      if (checkpoints.has(i)) {
        const fewUpdates = updates < MIN_UPDATE_RATIO * (i - prevCheckpoint);
        const stalled = prevEta === eta && prevBestLoss === best.loss;
        prevEta = eta;
        prevBestLoss = best.loss;
        prevCheckpoint = i;
        updates = 0;
        if ((fewUpdates || stalled) && i < iterations - 1) {
          // Halve the step and continue from the best point, without momentum.
          eta /= 2;
          cur = best;
          prevU = best.u;
        }
      }
      sweep();
    }
    return { initial, worst: best.loss };
  } finally {
    for (const t of kept) t.dispose();
    kept.clear();
    tf.dispose(scale.filter((s): s is tf.Tensor => s !== null));
    variables.forEach((v, i) => {
      v.assign(w0[i] as tf.Tensor);
    });
  }
}

export interface SharpnessBatch {
  x: tf.Tensor;
  /** One-hot labels. */
  y: tf.Tensor;
  size: number;
}

export interface MeasureOptions {
  /** Called after every pass with passes done and planned. */
  onProgress?: (done: number, total: number) => void;
  /** Checked between batches: a true answer abandons the measurement (returns null). */
  shouldStop?: () => boolean;
}

/** Passes one measurement costs for these variants: sum over batches of iterations + 1 each. */
export function plannedPasses(
  variants: readonly SharpnessVariant[],
  iterations: number,
  batches: number,
): number {
  let per = 0;
  for (const v of variants) per += (v === "one-step" ? 1 : iterations) + 1;
  return per * batches;
}

/** The ascent a variant runs (the torch engine's sharpness.py ascent_of is the same). */
export function ascentOf(variant: SharpnessVariant, settings: SharpnessSettings): AscentOptions {
  return variant === "l2"
    ? { norm: "l2", adaptive: false, rho: settings.rhoL2, iterations: settings.iterations }
    : {
        norm: "linf",
        adaptive: true,
        rho: settings.rho,
        iterations: variant === "one-step" ? 1 : settings.iterations,
      };
}

/** One measured value with its settings, as both engines record it. */
export function sharpnessValue(
  variant: SharpnessVariant,
  settings: SharpnessSettings,
  value: number,
  loss: number,
  examples: number,
): SharpnessValue {
  const ascent = ascentOf(variant, settings);
  return {
    variant,
    key: SHARPNESS_KEYS[variant],
    value,
    loss,
    norm: ascent.norm,
    adaptive: ascent.adaptive,
    rho: ascent.rho,
    iterations: ascent.iterations,
    examples,
    batchSize: settings.batchSize,
    seed: settings.seed,
  };
}

/**
 * Measures `variants` on the batches with the given loss (`lossOf(batch)` reads
 * the variables). Returns one value per variant, in the order asked.
 */
export async function measureSharpness(
  variables: tf.Variable[],
  batches: readonly SharpnessBatch[],
  lossOf: (batch: SharpnessBatch) => tf.Scalar,
  settings: SharpnessSettings,
  options: MeasureOptions = {},
): Promise<SharpnessValue[] | null> {
  const variants = settings.variants;
  const total = plannedPasses(variants, settings.iterations, batches.length);
  let done = 0;
  const onPass = () => {
    done++;
    options.onProgress?.(done, total);
  };
  const w0 = variables.map((v) => tf.clone(v));
  const examples = batches.reduce((n, b) => n + b.size, 0);
  const values: SharpnessValue[] = [];
  try {
    for (const variant of variants) {
      const ascent = ascentOf(variant, settings);
      let sum = 0;
      let lossSum = 0;
      for (const batch of batches) {
        // Let messages in (pause, stop): CPU backends never yield to the event loop by themselves.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (options.shouldStop?.()) return null;
        const r = await worstCaseOnBatch(variables, w0, () => lossOf(batch), ascent, onPass);
        sum += (r.worst - r.initial) * batch.size;
        lossSum += r.initial * batch.size;
      }
      values.push(sharpnessValue(variant, settings, sum / examples, lossSum / examples, examples));
    }
    return values;
  } finally {
    variables.forEach((v, i) => {
      v.assign(w0[i] as tf.Tensor);
    });
    tf.dispose(w0);
  }
}

/**
 * The fixed evaluation subset: the first `examples` of a shuffle of the
 * training split drawn from `seed` (Rng.from(seed).fork("sharpness")), in
 * batches of batchSize (the last may be smaller). Both engines take their
 * subset from here: sharpnessBatches below, and the torch engine, which sends
 * these indices to Python (core/engine/torch/sharpness.ts).
 */
export function sharpnessSubset(
  count: number,
  settings: Pick<SharpnessSettings, "examples" | "batchSize" | "seed">,
): { indices: Uint32Array; batchSize: number } {
  const examples = Math.min(settings.examples, count);
  const batchSize = Math.min(settings.batchSize, examples);
  const order = Rng.from(settings.seed).fork("sharpness").permutation(count);
  return { indices: order.subarray(0, examples), batchSize };
}

/**
 * The subset's batches as tensors: images normalised with the dataset's
 * training statistics, no augmentation. The caller disposes the tensors
 * (disposeBatches).
 */
export function sharpnessBatches(
  dataset: Dataset,
  settings: Pick<SharpnessSettings, "examples" | "batchSize" | "seed">,
): SharpnessBatch[] {
  const train = dataset.train;
  const { indices, batchSize } = sharpnessSubset(train.count, settings);
  const [h, w, c] = dataset.shape;
  const out: SharpnessBatch[] = [];
  for (let lo = 0; lo < indices.length; lo += batchSize) {
    const idx = indices.subarray(lo, lo + batchSize);
    const size = idx.length;
    const images = augmentBatch(train.images, idx, dataset.shape, dataset.stats, null, null);
    const labels = Int32Array.from(idx, (i) => train.labels[i] as number);
    out.push({
      x: tf.tensor4d(images, [size, h, w, c]),
      y: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, "int32"), dataset.classes.length)),
      size,
    });
  }
  return out;
}

export function disposeBatches(batches: readonly SharpnessBatch[]): void {
  for (const b of batches) tf.dispose([b.x, b.y]);
}

/** Mean softmax cross-entropy of a model in inference mode (batch norm: running statistics). */
export function inferenceLoss(model: tfl.LayersModel): (batch: SharpnessBatch) => tf.Scalar {
  return (batch) =>
    tf.losses.softmaxCrossEntropy(
      batch.y,
      model.apply(batch.x, { training: false }) as tf.Tensor2D,
    ) as tf.Scalar;
}

/** Sharpness of a model on a dataset's fixed training subset. */
export async function modelSharpness(
  model: tfl.LayersModel,
  dataset: Dataset,
  settings: SharpnessSettings,
  options: MeasureOptions = {},
): Promise<SharpnessValue[] | null> {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const batches = sharpnessBatches(dataset, settings);
  try {
    return await measureSharpness(variables, batches, inferenceLoss(model), settings, options);
  } finally {
    disposeBatches(batches);
  }
}

/**
 * One measurement as the trainer and the on-demand job run it: progress
 * events (at most every PROGRESS_MS), then one event with the values and the
 * seconds taken, or with the error (training goes on without the value).
 * Returns the values (null when stopped or failed).
 */
export async function measureModelSharpness(
  model: tfl.LayersModel,
  dataset: Dataset,
  spec: Omit<SharpnessSettings, "variants">,
  variants: readonly SharpnessVariant[],
  epoch: number,
  when: SharpnessEvent["when"],
  emit: (event: SharpnessEvent) => void,
  options: Pick<MeasureOptions, "shouldStop"> & { backend?: string } = {},
): Promise<SharpnessValue[] | null> {
  const settings = measurementSettings(spec, variants);
  const t0 = performance.now();
  let lastEmit = -Infinity;
  const onProgress = (done: number, total: number) => {
    const now = performance.now();
    if (done === 1 || now - lastEmit >= PROGRESS_MS) {
      lastEmit = now;
      emit({ type: "sharpness", epoch, when, done, total });
    }
  };
  const seconds = () => (performance.now() - t0) / 1000;
  try {
    const values = await modelSharpness(model, dataset, settings, {
      shouldStop: options.shouldStop,
      onProgress,
    });
    if (values) {
      const batches = batchCount(dataset, settings);
      emit(valuesEvent(epoch, when, settings, batches, values, seconds(), options.backend));
    }
    return values;
  } catch (err) {
    emit(failedEvent(epoch, when, seconds(), (err as Error)?.message ?? String(err)));
    return null;
  }
}

/** One measurement's settings: a spec's (or a request's) with the variants measured this time. */
export function measurementSettings(
  spec: Omit<SharpnessSettings, "variants">,
  variants: readonly SharpnessVariant[],
): SharpnessSettings {
  return {
    rho: spec.rho,
    rhoL2: spec.rhoL2,
    iterations: spec.iterations,
    examples: spec.examples,
    batchSize: spec.batchSize,
    seed: spec.seed,
    variants: [...variants],
  };
}

/** The last event of a measurement: all its passes done, the values, the time and backend. */
export function valuesEvent(
  epoch: number,
  when: SharpnessEvent["when"],
  settings: SharpnessSettings,
  batches: number,
  values: SharpnessValue[],
  seconds: number,
  backend?: string,
): SharpnessEvent {
  const total = plannedPasses(settings.variants, settings.iterations, batches);
  return {
    type: "sharpness",
    epoch,
    when,
    done: total,
    total,
    values,
    seconds,
    ...(backend ? { backend } : {}),
  };
}

/** The event of a measurement that failed (training goes on without the value). */
export function failedEvent(
  epoch: number,
  when: SharpnessEvent["when"],
  seconds: number,
  message: string,
): SharpnessEvent {
  return {
    type: "sharpness",
    epoch,
    when,
    done: 0,
    total: 0,
    seconds,
    error: `sharpness could not be measured: ${message}`,
  };
}

/** Progress events of a measurement at most this often (ms). */
const PROGRESS_MS = 250;

/** Batches the evaluation subset makes. */
export function batchCount(
  dataset: Pick<Dataset, "train">,
  settings: Pick<SharpnessSettings, "examples" | "batchSize">,
): number {
  const examples = Math.min(settings.examples, dataset.train.count);
  return Math.ceil(examples / Math.min(settings.batchSize, examples));
}
