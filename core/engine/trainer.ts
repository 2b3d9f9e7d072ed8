/**
 * The training loop: follows a compiled schedule (LR set every step, batch
 * size every epoch), streams typed events, estimates the noise level C online,
 * checkpoints after every epoch and resumes from a checkpoint on the same
 * trajectory. It runs wherever it is called; hosts run it in a worker process
 * (see worker.ts) so it never blocks their event loop.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { CIFAR_AUGMENT } from "../data/augment.js";
import { datasetBatches, epochRng } from "../data/batches.js";
import { loadDataset } from "../data/registry.js";
import { Rng } from "../data/rng.js";
import type { Dataset, Split } from "../data/types.js";
import { imageSize } from "../data/types.js";
import { createModel, modelParamCount } from "../models/index.js";
import { type CompiledSchedule, compileSchedule, parseSchedule } from "../schedule/index.js";
import { directNoiseEstimate, TwoBatchNoiseEstimator } from "../smoothing/noise.js";
import { selectBackend } from "./backends.js";
import { type CheckpointData, loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import {
  type EpochEvent,
  type SummaryEvent,
  stepDeltaFields,
  type TrainEvent,
  TrainingError,
  type TrainSpec,
  type TrainSpecInput,
  TrainSpecSchema,
} from "./events.js";
import { numericPath } from "./numeric-path.js";
import { Optimizer } from "./optimizers.js";
import { measureModelSharpness } from "./sharpness.js";
import { countCorrect, type StepModel, type StepResult, trainStep } from "./step.js";

/** Steps whose scalars are read back together (one device sync per window). */
const REPORT_EVERY = 10;
/** Mini-batches used by the direct estimate of C. */
const DIRECT_BATCHES = 8;
const EVAL_BATCH = 500;

/**
 * Tests only: SGD_STUDIO_TEST_STEP_DELAY_MS makes every training step take
 * that many milliseconds longer (a sleep after it), so a test can run a
 * training whose steps take a known time (the Run view's ETA test).
 * Unset or 0 in normal use.
 */
export function testStepDelayMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SGD_STUDIO_TEST_STEP_DELAY_MS;
  if (raw === undefined || raw === "") return 0;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new TrainingError(
      "bad-spec",
      `SGD_STUDIO_TEST_STEP_DELAY_MS must be a number of milliseconds >= 0 (got "${raw}"); unset it outside tests`,
    );
  }
  return ms;
}

interface PendingStep extends StepResult {
  step: number;
  epoch: number;
  lr: number;
  batchSize: number;
  size: number;
  /** Seconds since the run started when the step had been dispatched. */
  dispatched: number;
}

export interface TrainerOptions {
  /** Resume from this checkpoint folder (see checkpoint.ts). */
  resumeFrom?: string;
}

/** The spec both engines train, validated: a bad one is a `bad-spec` error naming the field. */
export function parseTrainSpec(spec: TrainSpecInput): TrainSpec {
  const parsed = TrainSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TrainingError(
      "bad-spec",
      `invalid training spec: ${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

export class Trainer {
  readonly spec: TrainSpec;
  private paused: { promise: Promise<void>; resolve: () => void } | null = null;
  private stopRequested = false;
  private step = 0;
  private epoch = 0;

  constructor(
    spec: TrainSpecInput,
    private readonly emit: (event: TrainEvent) => void,
    private readonly options: TrainerOptions = {},
  ) {
    this.spec = parseTrainSpec(spec);
  }

  pause(): void {
    if (this.paused || this.stopRequested) return;
    let resolve = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.paused = { promise, resolve };
    this.emit({ type: "paused", step: this.step, epoch: this.epoch });
  }

  resume(): void {
    if (!this.paused) return;
    this.paused.resolve();
    this.paused = null;
    this.emit({ type: "resumed", step: this.step, epoch: this.epoch });
  }

  /** Stops after the current step; the last epoch checkpoint is kept. */
  stop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.emit({ type: "stopping", step: this.step, epoch: this.epoch });
    this.resume();
  }

  async run(): Promise<SummaryEvent> {
    const spec = this.spec;
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    const resume = this.options.resumeFrom ? loadCheckpoint(this.options.resumeFrom) : null;
    const stepDelay = testStepDelayMs();

    const schedule = parseSchedule(spec.schedule, "schedule");
    const backend = await this.selectBackend();
    const numeric = numericPath(backend); // while the selected backend is surely the active one
    const dataset = await this.loadData();
    const train = dataset.train;
    // The run's length: a relative schedule resolves to it; an epoch-time one is
    // truncated (with a warning) or fitted, as the spec says.
    const compiled = compileSchedule(schedule, {
      datasetSize: train.count,
      epochs: spec.epochs,
      fit: spec.fit,
    });
    const model = createModel(spec.model, {
      inputShape: [...dataset.shape],
      numClasses: dataset.classes.length,
      seed: spec.seed,
    });
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const optimizer = new Optimizer(spec.optimizer, variables);
    const stepModel: StepModel = {
      model,
      variables,
      optimizer,
      numClasses: dataset.classes.length,
    };
    const noise = new TwoBatchNoiseEstimator(0.9);
    let best: { accuracy: number; epoch: number } | null = null;
    let samples = 0;
    let startEpoch = 0;
    if (resume) {
      this.restore(resume, model, optimizer, noise);
      startEpoch = resume.manifest.epoch + 1;
      this.step = resume.manifest.step;
      samples = resume.manifest.samples;
      best = resume.manifest.best;
    }

    this.emit({
      type: "start",
      backend: backend.name,
      backendSummary: backend.summary,
      dataset: {
        name: dataset.name,
        train: train.count,
        test: dataset.test.count,
        shape: dataset.shape,
        source: dataset.source.description,
      },
      model: { name: spec.model, parameters: modelParamCount(model).trainable },
      epochs: compiled.totals.epochs,
      steps: compiled.totals.updates,
      startEpoch,
      warnings: compiled.warnings.map((w) => w.message),
      numericPath: numeric,
      time: seconds(),
    });

    const augment = spec.augment ?? dataset.shape[2] === 3;
    const root = Rng.from(spec.seed);
    let lastTest: number | null = null;
    let checkpoint: string | null = this.options.resumeFrom ?? null;
    const numClasses = dataset.classes.length;
    try {
      for (let e = startEpoch; e < compiled.totals.epochs && !this.stopRequested; e++) {
        this.epoch = e;
        const row = compiled.epochs[e] as CompiledSchedule["epochs"][number];
        const batches = datasetBatches(dataset, "train", {
          batchSize: row.batchSize,
          rng: epochRng(root, e),
          dropLast: compiled.dropLast,
          augment: augment ? CIFAR_AUGMENT : false,
        });
        const pending: PendingStep[] = [];
        const totals = { loss: 0, correct: 0, count: 0 };
        let windowStart = performance.now();
        const flush = async () => {
          const start = windowStart;
          const elapsed = (performance.now() - start) / 1000;
          windowStart = performance.now();
          const images = pending.reduce((n, p) => n + p.size, 0);
          let done = 0;
          for (const p of pending) {
            // When the step ended: on synchronous backends (cpu, wasm, tfjs-node) its dispatch
            // ended with it; on webgpu dispatch runs ahead, so the window's time is spread over
            // its steps by images. Either way each step has its own time, not its flush's.
            done += p.size;
            const time = Math.max(
              p.dispatched,
              (start - t0) / 1000 + (images > 0 ? (elapsed * done) / images : 0),
            );
            const [loss, gradNormSq, correct, small] = await Promise.all([
              p.loss.data(),
              p.gradNormSq.data(),
              p.correct.data(),
              p.smallNormSq ? p.smallNormSq.data() : Promise.resolve(null),
            ]);
            const lossValue = loss[0] as number;
            if (!Number.isFinite(lossValue)) {
              throw new TrainingError(
                "nan-loss",
                `the loss became ${lossValue} at step ${p.step} (epoch ${p.epoch}) with learning rate ${p.lr} and batch size ${p.batchSize}: the learning rate is probably too high for this model; try ${p.lr / 10} or add a warmup`,
                { step: p.step, epoch: p.epoch },
              );
            }
            if (small)
              noise.observe(p.smallSize, small[0] as number, p.size, gradNormSq[0] as number);
            samples += p.size;
            totals.loss += lossValue * p.size;
            totals.correct += correct[0] as number;
            totals.count += p.size;
            const c = noise.c;
            // The schedule's delta / delta_0 (LR and batch alone; compiled without C).
            const scheduled = compiled.steps.delta[p.step] as number;
            this.emit({
              type: "step",
              step: p.step,
              epoch: p.epoch,
              loss: lossValue,
              lr: p.lr,
              batchSize: p.batchSize,
              ...stepDeltaFields(p.lr, p.batchSize, scheduled, c, small !== null),
              time,
              gradNorm: Math.sqrt(gradNormSq[0] as number),
              samples,
              throughput: elapsed > 0 ? images / elapsed : 0,
            });
            tf.dispose([
              p.loss,
              p.gradNormSq,
              p.correct,
              ...(p.smallNormSq ? [p.smallNormSq] : []),
            ]);
          }
          pending.length = 0;
        };

        let wholeEpoch = true;
        for (const batch of batches) {
          // Let pause/stop messages in (CPU backends never yield to the event loop by themselves).
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (this.paused) await this.paused.promise;
          if (this.stopRequested) {
            wholeEpoch = false;
            break;
          }
          const lr = compiled.steps.lr[this.step] as number;
          const measureNoise =
            spec.noiseEvery > 0 && this.step % spec.noiseEvery === 0 && batch.size >= 8;
          const x = tf.tensor4d(batch.images, [batch.size, ...dataset.shape] as [
            number,
            number,
            number,
            number,
          ]);
          const result = trainStep(stepModel, x, batch.labels, lr, measureNoise);
          x.dispose();
          if (stepDelay > 0) await new Promise((resolve) => setTimeout(resolve, stepDelay));
          pending.push({
            ...result,
            step: this.step,
            epoch: e,
            lr,
            batchSize: row.batchSize,
            size: batch.size,
            dispatched: seconds(),
          });
          this.step++;
          if (pending.length >= REPORT_EVERY) await flush();
        }
        await flush();
        // Stopped mid-epoch: no evaluation or checkpoint for a partial epoch; the last one stays.
        if (!wholeEpoch) break;
        if (spec.noiseDirectEpochs.includes(e)) {
          const c = await directNoise(
            model,
            variables,
            dataset,
            root.fork("noise-direct").fork(e),
            row.batchSize,
          );
          this.emit({
            type: "noise",
            epoch: e,
            method: "direct",
            c,
            batches: DIRECT_BATCHES,
            batchSize: row.batchSize,
          });
        }

        const test = await evaluate(model, dataset, numClasses);
        lastTest = test.accuracy;
        if (!best || test.accuracy > best.accuracy) best = { accuracy: test.accuracy, epoch: e };
        const event: EpochEvent = {
          type: "epoch",
          epoch: e,
          trainLoss: totals.loss / Math.max(1, totals.count),
          trainAccuracy: totals.correct / Math.max(1, totals.count),
          testLoss: test.loss,
          testAccuracy: test.accuracy,
          wallTime: seconds(),
          noiseC: noise.c ?? null,
          tensors: tf.memory().numTensors,
        };
        this.emit(event);
        if (spec.checkpointDir) {
          checkpoint = await this.save(spec, model, optimizer, noise, e, samples, best);
          this.emit({ type: "checkpoint", epoch: e, path: checkpoint });
        }
        // Sharpness every K epochs (after the checkpoint: a long measurement never costs an epoch).
        const sh = spec.sharpness;
        const last = e === compiled.totals.epochs - 1;
        if (sh && sh.everyEpochs > 0 && (e + 1) % sh.everyEpochs === 0 && !(last && sh.atEnd)) {
          await measureModelSharpness(model, dataset, sh, sh.trackVariants, e, "every", this.emit, {
            shouldStop: () => this.stopRequested,
            backend: backend.name,
          });
        }
      }
      // Sharpness of the final model (also when a resume finds every epoch trained).
      const sh = spec.sharpness;
      if (sh?.atEnd && !this.stopRequested && compiled.totals.epochs > 0) {
        const variants = sh.everyEpochs > 0 ? [...sh.variants, ...sh.trackVariants] : sh.variants;
        await measureModelSharpness(
          model,
          dataset,
          sh,
          [...new Set(variants)],
          compiled.totals.epochs - 1,
          "end",
          this.emit,
          { shouldStop: () => this.stopRequested, backend: backend.name },
        );
      }
    } catch (err) {
      throw asTrainingError(err, this.step, this.epoch, spec);
    } finally {
      optimizer.dispose();
      model.dispose();
    }

    const summary: SummaryEvent = {
      type: "summary",
      status: this.stopRequested ? "stopped" : "completed",
      epochs: compiled.totals.epochs,
      steps: this.step,
      testAccuracy: lastTest,
      bestTestAccuracy: best?.accuracy ?? null,
      bestEpoch: best?.epoch ?? null,
      wallTime: seconds(),
      checkpoint,
    };
    this.emit(summary);
    return summary;
  }

  private async selectBackend() {
    try {
      return await selectBackend(this.spec.backend);
    } catch (err) {
      throw new TrainingError("backend", (err as Error).message);
    }
  }

  private loadData(): Promise<Dataset> {
    return loadSpecDataset(this.spec);
  }

  private restore(
    data: CheckpointData,
    model: tfl.LayersModel,
    optimizer: Optimizer,
    noise: TwoBatchNoiseEstimator,
  ): void {
    const weights = model.weights;
    if (weights.length !== data.weights.length) {
      throw new TrainingError(
        "checkpoint",
        `checkpoint holds ${data.weights.length} weight tensors but model ${this.spec.model} has ${weights.length}; resume with the spec the checkpoint was made with`,
      );
    }
    model.setWeights(
      data.weights.map((values, i) =>
        tf.tensor(values, (weights[i] as tfl.LayerVariable).read().shape),
      ),
    );
    optimizer.setState({
      kind: data.manifest.optimizer.kind,
      step: data.manifest.optimizer.step,
      slots: data.optimizerSlots,
    });
    if (data.manifest.noise) noise.setState(data.manifest.noise);
  }

  private async save(
    spec: TrainSpec,
    model: tfl.LayersModel,
    optimizer: Optimizer,
    noise: TwoBatchNoiseEstimator,
    epoch: number,
    samples: number,
    best: { accuracy: number; epoch: number } | null,
  ): Promise<string> {
    const weights = await Promise.all(
      model.weights.map(async (w) => ({
        name: w.name,
        shape: [...w.read().shape],
        values: (await w.read().data()) as Float32Array,
      })),
    );
    return saveCheckpoint(spec.checkpointDir as string, {
      spec,
      epoch,
      step: this.step,
      samples,
      weights,
      optimizer: await optimizer.getState(),
      noise: noise.observations > 0 ? noise.getState() : null,
      best,
    });
  }
}

/** The dataset a spec trains on, with its trainLimit and testLimit applied. */
export async function loadSpecDataset(
  spec: Pick<TrainSpec, "dataset" | "dataDir" | "trainLimit" | "testLimit">,
): Promise<Dataset> {
  let dataset: Dataset;
  try {
    dataset = await loadDataset(spec.dataset, { dataDir: spec.dataDir });
  } catch (err) {
    throw new TrainingError("dataset", (err as Error).message);
  }
  const { trainLimit, testLimit } = spec;
  if (trainLimit === undefined && testLimit === undefined) return dataset;
  const size = imageSize(dataset.shape);
  const limit = (split: Split, n: number | undefined): Split => {
    if (n === undefined || n >= split.count) return split;
    return {
      images: split.images.subarray(0, n * size),
      labels: split.labels.subarray(0, n),
      count: n,
    };
  };
  return {
    ...dataset,
    train: limit(dataset.train, trainLimit),
    test: limit(dataset.test, testLimit),
  };
}

/**
 * Direct estimate of C at the current weights: gradients of DIRECT_BATCHES
 * random mini-batches, their mean standing in for the full gradient (see
 * directNoiseEstimate). Batch-norm running statistics are restored afterwards,
 * so the estimate does not change the run.
 */
async function directNoise(
  model: tfl.LayersModel,
  variables: tf.Variable[],
  dataset: Dataset,
  rng: Rng,
  batchSize: number,
): Promise<number> {
  const [h, w, c] = dataset.shape;
  const saved = model.nonTrainableWeights.map((v) => tf.clone(v.read()));
  const gradients: Float32Array[] = [];
  const size = Math.min(batchSize, Math.floor(dataset.train.count / DIRECT_BATCHES));
  for (const batch of datasetBatches(dataset, "train", { batchSize: size, rng })) {
    if (gradients.length === DIRECT_BATCHES) break;
    const flat = tf.tidy(() => {
      const x = tf.tensor4d(batch.images, [batch.size, h, w, c]);
      const y = tf.oneHot(tf.tensor1d(batch.labels, "int32"), dataset.classes.length);
      const { grads } = tf.variableGrads(
        () =>
          tf.losses.softmaxCrossEntropy(
            y,
            model.apply(x, { training: true }) as tf.Tensor2D,
          ) as tf.Scalar,
        variables,
      );
      return tf.concat(variables.map((v) => tf.reshape(grads[v.name] as tf.Tensor, [-1])));
    });
    gradients.push((await flat.data()) as Float32Array);
    flat.dispose();
  }
  model.nonTrainableWeights.forEach((v, i) => {
    v.write(saved[i] as tf.Tensor);
  });
  tf.dispose(saved);
  const mean = new Float64Array(gradients[0]?.length ?? 0);
  for (const g of gradients)
    for (let i = 0; i < g.length; i++)
      mean[i] = (mean[i] as number) + (g[i] as number) / gradients.length;
  return directNoiseEstimate(mean, gradients, size, true);
}

/** Test loss and accuracy, in inference mode (BN uses its moving statistics). */
async function evaluate(
  model: tfl.LayersModel,
  dataset: Dataset,
  numClasses: number,
): Promise<{ loss: number; accuracy: number }> {
  const [h, w, c] = dataset.shape;
  let lossSum = 0;
  let correct = 0;
  for (const batch of datasetBatches(dataset, "test", {
    batchSize: Math.min(EVAL_BATCH, dataset.test.count),
    shuffle: false,
  })) {
    const [l, k] = tf.tidy(() => {
      const x = tf.tensor4d(batch.images, [batch.size, h, w, c]);
      const y = tf.oneHot(tf.tensor1d(batch.labels, "int32"), numClasses);
      const logits = model.apply(x, { training: false }) as tf.Tensor2D;
      return [
        tf.mul(tf.losses.softmaxCrossEntropy(y, logits), batch.size),
        countCorrect(logits, y),
      ];
    });
    const [lv, kv] = await Promise.all([(l as tf.Tensor).data(), (k as tf.Tensor).data()]);
    lossSum += lv[0] as number;
    correct += kv[0] as number;
    tf.dispose([l as tf.Tensor, k as tf.Tensor]);
  }
  return { loss: lossSum / dataset.test.count, accuracy: correct / dataset.test.count };
}

const OOM =
  /out of memory|\bOOM\b|failed to allocate|allocation failed|Array buffer allocation|Invalid typed array length|memory access out of bounds/i;

export function asTrainingError(
  err: unknown,
  step: number,
  epoch: number,
  spec: TrainSpec,
): TrainingError {
  if (err instanceof TrainingError) return err;
  const message = (err as Error)?.message ?? String(err);
  if (OOM.test(message)) {
    return new TrainingError(
      "out-of-memory",
      `ran out of memory at step ${step} (epoch ${epoch}) training ${spec.model}: ${message}. Lower the batch size (or cap it with "max" in the schedule's batch), or use a smaller model`,
      { step, epoch },
    );
  }
  return new TrainingError("internal", message, { step, epoch });
}
