/**
 * The torch engine's training loop, Node side: everything that decides WHAT
 * is trained runs here, with the same code as the TF.js Trainer (trainer.ts):
 * the spec, the dataset (core/data loaders, trainLimit/testLimit), the
 * compiled schedule (the exact per-step LR and per-epoch batch size), each
 * epoch's order and augmentation drawn from the run's seed (the same Rng
 * calls as datasetBatches), the noise estimator, delta, the events, the
 * checkpoint folder. Python (python/sgd_studio_torch) only runs the steps
 * and evaluations it is sent and reports their scalars.
 *
 * Runs inside the training worker process (worker.ts picks it for backend
 * "torch"), so the supervisor, RunManager, recorder and library see the same
 * worker, the same messages and the same events as for any other backend.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SharpnessSpec, SharpnessVariant } from "../../api/sharpness.js";
import { CIFAR_AUGMENT, drawAugmentParams } from "../../data/augment.js";
import { batchesPerEpoch, epochRng } from "../../data/batches.js";
import { Rng } from "../../data/rng.js";
import type { Dataset } from "../../data/types.js";
import { modelGraph } from "../../models/index.js";
import { compileSchedule, parseSchedule } from "../../schedule/index.js";
import { TwoBatchNoiseEstimator } from "../../smoothing/noise.js";
import { CHECKPOINT_VERSION, type CheckpointManifest } from "../checkpoint.js";
import {
  type SummaryEvent,
  stepDeltaFields,
  type TrainEvent,
  TrainingError,
  type TrainSpec,
  type TrainSpecInput,
} from "../events.js";
import { measurementSettings } from "../sharpness.js";
import { loadSpecDataset, parseTrainSpec, testStepDelayMs } from "../trainer.js";
import { describeTorch, findTorchPython, type TorchProbe } from "./python.js";
import { type PyMessage, PythonExited, PythonProcess } from "./python-process.js";
import { torchSharpness } from "./sharpness.js";

/** Mini-batches of the direct estimate of C (as trainer.ts). */
const DIRECT_BATCHES = 8;
/** The torch engine's state file inside a checkpoint folder. */
export const TORCH_STATE_FILE = "torch-state.pt";

export interface TorchTrainerOptions {
  resumeFrom?: string;
}

/** A checkpoint manifest of the torch engine (same folder layout as checkpoint.ts; weights in TORCH_STATE_FILE). */
export type TorchManifest = CheckpointManifest & { engine: "torch"; state: string };

export class TorchTrainer {
  readonly spec: TrainSpec;
  private py: PythonProcess | null = null;
  private stopRequested = false;
  private paused = false;
  private step = 0;
  private epoch = 0;

  constructor(
    spec: TrainSpecInput,
    private readonly emit: (event: TrainEvent) => void,
    private readonly options: TorchTrainerOptions = {},
  ) {
    this.spec = parseTrainSpec(spec);
  }

  pause(): void {
    if (this.paused || this.stopRequested) return;
    this.paused = true;
    this.py?.control("pause");
    this.emit({ type: "paused", step: this.step, epoch: this.epoch });
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.py?.control("resume");
    this.emit({ type: "resumed", step: this.step, epoch: this.epoch });
  }

  stop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.emit({ type: "stopping", step: this.step, epoch: this.epoch });
    this.paused = false;
    this.py?.control("stop");
  }

  async run(): Promise<SummaryEvent> {
    const spec = this.spec;
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    const resume = this.options.resumeFrom ? readTorchManifest(this.options.resumeFrom) : null;
    const schedule = parseSchedule(spec.schedule, "schedule");
    const stepDelayMs = testStepDelayMs();
    const python = await findTorch();
    let dataset: Dataset;
    try {
      dataset = await loadSpecDataset(spec);
    } catch (err) {
      throw err instanceof TrainingError ? err : new TrainingError("dataset", String(err));
    }
    const train = dataset.train;
    const compiled = compileSchedule(schedule, {
      datasetSize: train.count,
      epochs: spec.epochs,
      fit: spec.fit,
    });
    const graph = modelGraph(spec.model, {
      inputShape: [...dataset.shape],
      numClasses: dataset.classes.length,
    });
    const augment = spec.augment ?? dataset.shape[2] === 3;

    const py = new PythonProcess(python.python);
    this.py = py;
    const noise = new TwoBatchNoiseEstimator(0.9);
    let best: { accuracy: number; epoch: number } | null = null;
    let samples = 0;
    let startEpoch = 0;
    if (resume) {
      startEpoch = resume.manifest.epoch + 1;
      this.step = resume.manifest.step;
      samples = resume.manifest.samples;
      best = resume.manifest.best;
      if (resume.manifest.noise) noise.setState(resume.manifest.noise);
    }
    let lastTest: number | null = null;
    let checkpoint: string | null = this.options.resumeFrom ?? null;
    try {
      await py.send(
        ...initMessage(spec, dataset, graph, python, {
          resume: resume ? join(resume.path, resume.manifest.state) : null,
          stepDelayMs,
        }),
      );
      const ready = await this.expect(py, "ready");
      if (ready.parameters !== graph.trainable) {
        throw new TrainingError(
          "internal",
          `the torch model has ${ready.parameters} parameters, the graph ${graph.trainable}`,
        );
      }
      if (this.paused) py.control("pause");
      if (this.stopRequested) py.control("stop");
      const applied = ready.applied as Record<string, unknown>;
      this.emit({
        type: "start",
        backend: "torch",
        backendSummary: `Training backend: torch (${describeTorch(python)}, ${describeApplied(applied)})`,
        dataset: {
          name: dataset.name,
          train: train.count,
          test: dataset.test.count,
          shape: dataset.shape,
          source: dataset.source.description,
        },
        model: { name: spec.model, parameters: graph.trainable },
        epochs: compiled.totals.epochs,
        steps: compiled.totals.updates,
        startEpoch,
        warnings: [...compiled.warnings.map((w) => w.message), ...(ready.notes as string[])],
        torch: {
          python: python.python,
          pythonVersion: python.pythonVersion ?? "",
          torch: python.torch ?? "",
          device: String(applied.device),
          threads: Number(applied.threads),
          dataOnDevice: applied.dataOnDevice === true,
          channelsLast: applied.channelsLast === true,
          autocast: applied.autocast as "off" | "bf16" | "fp16",
          compile: applied.compile === true,
          compileAvailable: python.compile === true,
        },
        time: seconds(),
      });

      const root = Rng.from(spec.seed);
      for (let e = startEpoch; e < compiled.totals.epochs && !this.stopRequested; e++) {
        this.epoch = e;
        const row = compiled.epochs[e] as (typeof compiled.epochs)[number];
        const bs = row.batchSize;
        if (bs > train.count) {
          throw new TrainingError(
            "bad-spec",
            `batch size ${bs} is larger than the dataset split (${train.count} images); use a batch size of at most ${train.count}, or a larger dataset`,
          );
        }
        const n = batchesPerEpoch(train.count, bs, compiled.dropLast);
        // The same draws as datasetBatches: the permutation, then each batch's augmentation in order.
        const rng = epochRng(root, e);
        const order = rng.permutation(train.count);
        const blobs: ArrayBufferView[] = [order];
        if (augment) {
          const dy = new Int32Array(n * bs);
          const dx = new Int32Array(n * bs);
          const flip = new Uint8Array(n * bs);
          for (let b = 0; b < n; b++) {
            const size = Math.min(bs, train.count - b * bs);
            const p = drawAugmentParams(rng, size, CIFAR_AUGMENT);
            dy.set(p.dy, b * bs);
            dx.set(p.dx, b * bs);
            flip.set(p.flip, b * bs);
          }
          blobs.push(dy, dx, flip);
        } else blobs.push(new Int32Array(0), new Int32Array(0), new Uint8Array(0));
        let direct: { size: number } | null = null;
        if (spec.noiseDirectEpochs.includes(e)) {
          direct = { size: Math.min(bs, Math.floor(train.count / DIRECT_BATCHES)) };
          blobs.push(root.fork("noise-direct").fork(e).permutation(train.count));
        }
        const firstStep = this.step;
        const lrs = Array.from(compiled.steps.lr.slice(firstStep, firstStep + n));
        await py.send(
          { type: "epoch", epoch: e, batchSize: bs, batches: n, firstStep, lrs, augment, direct },
          blobs,
        );
        const totals = { loss: 0, correct: 0, count: 0 };
        let end: PyMessage;
        for (;;) {
          const m = await this.expect(py, "steps", "epoch-end");
          if (m.type === "epoch-end") {
            end = m;
            break;
          }
          const rows = m.rows as [number, number, number, number, number, number | null, number][];
          const images = rows.reduce((s, r) => s + r[1], 0);
          const elapsed = m.elapsed as number;
          // Each step's own time: the window (it ended now, `elapsed` long) spread over its steps by images.
          const windowEnd = seconds();
          let done = 0;
          for (const [step, size, loss, gradNormSq, correct, small, smallSize] of rows) {
            done += size;
            const time =
              images > 0 ? Math.max(0, windowEnd - elapsed * (1 - done / images)) : windowEnd;
            if (!Number.isFinite(loss)) {
              const lr = compiled.steps.lr[step] as number;
              throw new TrainingError(
                "nan-loss",
                `the loss became ${loss} at step ${step} (epoch ${e}) with learning rate ${lr} and batch size ${bs}: the learning rate is probably too high for this model; try ${lr / 10} or add a warmup`,
                { step, epoch: e },
              );
            }
            if (small !== null) noise.observe(smallSize, small, size, gradNormSq);
            samples += size;
            totals.loss += loss * size;
            totals.correct += correct;
            totals.count += size;
            const lr = compiled.steps.lr[step] as number;
            const c = noise.c;
            const scheduled = compiled.steps.delta[step] as number;
            this.step = step + 1;
            this.emit({
              type: "step",
              step,
              epoch: e,
              loss,
              lr,
              batchSize: bs,
              ...stepDeltaFields(lr, bs, scheduled, c, small !== null),
              time,
              gradNorm: Math.sqrt(gradNormSq),
              samples,
              throughput: elapsed > 0 ? images / elapsed : 0,
            });
          }
        }
        // Stopped mid-epoch: no evaluation or checkpoint for a partial epoch; the last one stays.
        if (end.stopped) break;
        if (direct && typeof end.directC === "number") {
          this.emit({
            type: "noise",
            epoch: e,
            method: "direct",
            c: end.directC,
            batches: DIRECT_BATCHES,
            batchSize: direct.size,
          });
        }
        const testAccuracy = end.testAccuracy as number;
        lastTest = testAccuracy;
        if (!best || testAccuracy > best.accuracy) best = { accuracy: testAccuracy, epoch: e };
        this.emit({
          type: "epoch",
          epoch: e,
          trainLoss: totals.loss / Math.max(1, totals.count),
          trainAccuracy: totals.correct / Math.max(1, totals.count),
          testLoss: end.testLoss as number,
          testAccuracy,
          wallTime: seconds(),
          noiseC: noise.c ?? null,
          // Live tfjs tensors: none here (torch frees its own memory).
          tensors: 0,
        });
        if (spec.checkpointDir) {
          checkpoint = await this.save(py, spec, e, samples, noise, best);
          this.emit({ type: "checkpoint", epoch: e, path: checkpoint });
        }
        // Sharpness every K epochs (after the checkpoint: a long measurement never costs an epoch).
        const sh = spec.sharpness;
        const last = e === compiled.totals.epochs - 1;
        if (sh && sh.everyEpochs > 0 && (e + 1) % sh.everyEpochs === 0 && !(last && sh.atEnd)) {
          await this.sharpness(py, train.count, sh, sh.trackVariants, e, "every");
        }
      }
      // Sharpness of the final model (also when a resume finds every epoch trained).
      const sh = spec.sharpness;
      if (sh?.atEnd && !this.stopRequested && compiled.totals.epochs > 0) {
        const variants = sh.everyEpochs > 0 ? [...sh.variants, ...sh.trackVariants] : sh.variants;
        const unique = [...new Set(variants)];
        await this.sharpness(py, train.count, sh, unique, compiled.totals.epochs - 1, "end");
      }
    } catch (err) {
      py.kill();
      throw asTorchError(err, this.step, this.epoch);
    }
    await py.close();
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

  /** The next message of one of these types; Python's own errors become TrainingErrors. */
  private expect(py: PythonProcess, ...types: string[]): Promise<PyMessage> {
    return nextMessage(py, { step: this.step, epoch: this.epoch }, ...types);
  }

  /** One sharpness measurement in Python, with the TF.js trainer's events (backend "torch"). */
  private sharpness(
    py: PythonProcess,
    trainCount: number,
    spec: SharpnessSpec,
    variants: readonly SharpnessVariant[],
    epoch: number,
    when: "every" | "end",
  ): Promise<unknown> {
    return torchSharpness(
      py,
      (...types) => this.expect(py, ...types),
      trainCount,
      measurementSettings(spec, variants),
      epoch,
      when,
      this.emit,
    );
  }

  /**
   * A checkpoint in checkpoint.ts's layout (epoch-NNNN/ with manifest.json,
   * latest.json), written to a temporary folder and renamed into place; the
   * weights and optimizer state are Python's (torch.save), beside the manifest.
   */
  private async save(
    py: PythonProcess,
    spec: TrainSpec,
    epoch: number,
    samples: number,
    noise: TwoBatchNoiseEstimator,
    best: { accuracy: number; epoch: number } | null,
  ): Promise<string> {
    const dir = spec.checkpointDir as string;
    const name = `epoch-${String(epoch).padStart(4, "0")}`;
    const tmp = join(dir, `.${name}.tmp-${process.pid}`);
    const pointer = join(dir, `.latest.json.tmp-${process.pid}`);
    const final = join(dir, name);
    try {
      mkdirSync(dir, { recursive: true });
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp);
      await py.send({ type: "save", path: join(tmp, TORCH_STATE_FILE) });
      await this.expect(py, "saved");
      const manifest: TorchManifest = {
        version: CHECKPOINT_VERSION,
        engine: "torch",
        state: TORCH_STATE_FILE,
        spec,
        epoch,
        step: this.step,
        samples,
        weights: [],
        optimizer: { kind: spec.optimizer.kind, step: this.step, slots: {} },
        noise: noise.observations > 0 ? noise.getState() : null,
        best,
        savedAt: new Date().toISOString(),
      };
      writeFileSync(join(tmp, "manifest.json"), JSON.stringify(manifest));
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
      writeFileSync(pointer, JSON.stringify({ checkpoint: name, epoch }));
      renameSync(pointer, join(dir, "latest.json"));
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      rmSync(pointer, { force: true });
      if (err instanceof TrainingError || err instanceof PythonExited) throw err;
      const e = err as NodeJS.ErrnoException;
      const full = e.code === "ENOSPC" || e.code === "EDQUOT" || /No space left/.test(e.message);
      throw new TrainingError(
        full ? "disk-full" : "checkpoint",
        full
          ? `the disk is full: the checkpoint of epoch ${epoch + 1} could not be written to ${dir}; free some space and resume the run (it continues from its last checkpoint)`
          : `cannot write the checkpoint of epoch ${epoch + 1} to ${dir}: ${e.message}`,
        { step: this.step, epoch },
      );
    }
    return final;
  }
}

/** The Python to train with, or a "backend" error with what was tried and the fix. */
export async function findTorch(): Promise<TorchProbe> {
  const found = await findTorchPython();
  if (found.found) return found.found;
  const tried = found.tried.map((t) => `${t.python}: ${t.error}`).join("; ");
  throw new TrainingError(
    "backend",
    `Backend "torch" cannot be used: no Python with PyTorch was found (tried ${tried || "no candidates"}). Fix: ${found.fix}.`,
  );
}

function describeApplied(a: Record<string, unknown>): string {
  return [
    `device ${a.device}`,
    `${a.threads} thread${a.threads === 1 ? "" : "s"}`,
    `data on device ${a.dataOnDevice ? "on" : "off"}`,
    `channels-last ${a.channelsLast ? "on" : "off"}`,
    `autocast ${a.autocast}`,
    `compile ${a.compile ? "on" : "off"}`,
  ].join(", ");
}

/** Reads a torch checkpoint's manifest (a TF.js checkpoint is refused with the fix). */
export function readTorchManifest(path: string): { path: string; manifest: TorchManifest } {
  let manifest: TorchManifest;
  try {
    manifest = JSON.parse(readFileSync(join(path, "manifest.json"), "utf8")) as TorchManifest;
  } catch (err) {
    throw new TrainingError(
      "checkpoint",
      `cannot read checkpoint ${path}: ${(err as Error).message}`,
    );
  }
  if (manifest.engine !== "torch") {
    throw new TrainingError(
      "checkpoint",
      `checkpoint ${path} was made by a TensorFlow.js backend; resume it with that backend (e.g. --backend wasm), not torch`,
    );
  }
  return { path, manifest };
}

export function asTorchError(err: unknown, step: number, epoch: number): TrainingError {
  if (err instanceof TrainingError) return err;
  if (err instanceof PythonExited) {
    // Killed or crashed without reporting: the run is interrupted and can resume.
    return new TrainingError("worker-exited", err.message, { step, epoch });
  }
  return new TrainingError("internal", (err as Error)?.message ?? String(err), { step, epoch });
}

/** The next message of one of these types; Python's own errors become TrainingErrors. */
export async function nextMessage(
  py: PythonProcess,
  at: { step: number; epoch: number },
  ...types: string[]
): Promise<PyMessage> {
  const m = await py.next();
  if (m.type === "error") {
    throw new TrainingError((m.code as TrainingError["code"]) ?? "internal", String(m.message), at);
  }
  if (!types.includes(m.type)) {
    throw new TrainingError(
      "internal",
      `the torch engine sent "${m.type}" where ${types.join(" or ")} was expected`,
    );
  }
  return m;
}

/**
 * Python's `init` message: the model graph, optimizer, data (as blobs) and speed
 * options, and the state file to start from (a checkpoint's, or null).
 */
export function initMessage(
  spec: TrainSpec,
  dataset: Dataset,
  graph: ReturnType<typeof modelGraph>,
  python: TorchProbe,
  opts: { resume: string | null; stepDelayMs?: number },
): [PyMessage, ArrayBufferView[]] {
  const train = dataset.train;
  const options = spec.torch ?? {
    device: "auto",
    dataOnDevice: "auto",
    channelsLast: "auto",
    autocast: "off",
    compile: false,
  };
  const channelsLast =
    options.channelsLast === "auto"
      ? python.cuda !== undefined && python.cuda.length > 0 && options.device !== "cpu"
      : options.channelsLast;
  return [
    {
      type: "init",
      graph,
      seed: spec.seed,
      shape: [...dataset.shape],
      classes: dataset.classes.length,
      stats: { mean: [...dataset.stats.mean], std: [...dataset.stats.std] },
      optimizer: spec.optimizer,
      noiseEvery: spec.noiseEvery,
      // Tests only (SGD_STUDIO_TEST_STEP_DELAY_MS, as the TF.js trainer): a sleep after every step.
      stepDelayMs: opts.stepDelayMs ?? 0,
      augmentPadding: CIFAR_AUGMENT.padding,
      trainCount: train.count,
      testCount: dataset.test.count,
      options: { ...options, channelsLast },
      resume: opts.resume,
    },
    [
      train.images,
      new Int32Array(train.labels),
      dataset.test.images,
      new Int32Array(dataset.test.labels),
    ],
  ];
}
