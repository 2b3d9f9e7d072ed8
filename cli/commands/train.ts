/**
 * `sgd-studio train`: one training run in a worker process, with live progress,
 * recorded in the run library (core/store) under a new run id.
 */
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { latestCheckpoint } from "../../core/engine/checkpoint.js";
import type { TrainEvent, TrainSpecInput } from "../../core/engine/events.js";
import type { OptimizerSpec } from "../../core/engine/optimizers.js";
import { startTraining } from "../../core/engine/worker-client.js";
import { StoreError } from "../../core/store/errors.js";
import { resolveHome } from "../../core/store/paths.js";
import { RESUMABLE } from "../../core/store/states.js";
import { type RunRecord, RunStore } from "../../core/store/store.js";
import { CliError, type Io } from "../io.js";
import { nonNegativeNumber, oneOf, optional, wholeNumber } from "../options.js";
import { ProgressView } from "../progress.js";
import { loadScheduleArg } from "../schedule-source.js";

interface TrainOptions {
  dataset: string;
  model: string;
  schedule: string;
  epochs?: string;
  backend?: string;
  seed: string;
  optimizer: OptimizerSpec["kind"];
  momentum?: string;
  weightDecay?: string;
  checkpointDir?: string;
  resume?: string;
  trainLimit?: string;
  json?: boolean;
  home?: string;
}

export function registerTrainCommand(program: Command, io: Io, isTty: boolean): void {
  program
    .command("train")
    .description(
      "train a model with a schedule (runs in a worker process; Ctrl-C stops and keeps the checkpoint)",
    )
    .option(
      "--dataset <name|path>",
      "default, fashion-mnist, mnist, cifar10, cifar100, or a path",
      "default",
    )
    .option("--model <name>", "mlp, cnn, resnet18, wrn-16-4, wrn-28-10", "mlp")
    .option("--schedule <file|preset>", "schedule file or preset name", "paper-hybrid")
    .option("--epochs <E>", "override the schedule's number of epochs")
    .option(
      "--backend <name>",
      "tensorflow-gpu, webgpu, tensorflow, wasm, cpu (default: best available)",
    )
    .option("--seed <S>", "seed for initialisation, shuffling and augmentation", "0")
    .option("--optimizer <kind>", "sgd, momentum, nesterov, adam, adamw", "sgd")
    .option("--momentum <m>", "momentum for momentum/nesterov (default 0.9)")
    .option("--weight-decay <w>", "weight decay")
    .option(
      "--checkpoint-dir <dir>",
      "where epoch checkpoints go (default: the run's folder in the library)",
    )
    .option(
      "--resume <run|dir>",
      "resume a stopped or interrupted run (id) from its last checkpoint, or start a new run from a checkpoint folder",
    )
    .option("--home <dir>", "library folder (default: $SGD_STUDIO_HOME or the user-data folder)")
    .option("--train-limit <N>", "train on the first N images only (quick runs)")
    .option("--json", "print one JSON event per line")
    .action(async (opts: TrainOptions) => {
      oneOf("--optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw"] as const)(
        opts.optimizer,
      );
      const flagSpec = (): TrainSpecInput => ({
        dataset: opts.dataset,
        model: opts.model,
        schedule: loadScheduleArg(opts.schedule),
        epochs: optional(wholeNumber("--epochs", 1), opts.epochs),
        backend: opts.backend,
        seed: wholeNumber("--seed", 0)(opts.seed),
        optimizer: {
          kind: opts.optimizer,
          momentum: optional(nonNegativeNumber("--momentum"), opts.momentum),
          weightDecay: optional(nonNegativeNumber("--weight-decay"), opts.weightDecay),
        },
        trainLimit: optional(wholeNumber("--train-limit", 1), opts.trainLimit),
      });
      const store = openStore(opts.home);
      try {
        const { run, spec, resumeFrom } = prepareRun(store, opts, flagSpec);
        if (opts.json)
          io.out(
            `${JSON.stringify({ type: "run", id: run.id, home: store.home, resumed: resumeFrom !== undefined })}\n`,
          );
        else io.out(`run ${run.id}${resumeFrom ? ` (resuming from ${resumeFrom})` : ""}\n`);
        await train(store, run, spec, resumeFrom, opts, io, isTty);
        if (!opts.json) io.out(`saved in the library: sgd-studio runs show ${run.id}\n`);
      } finally {
        store.close();
      }
    });
}

function openStore(home: string | undefined): RunStore {
  try {
    return RunStore.open(resolveHome(home));
  } catch (err) {
    if (err instanceof StoreError) throw new CliError(err.message);
    throw err;
  }
}

/** A new run from the flags, or the run `--resume` names with its spec and last checkpoint. */
function prepareRun(
  store: RunStore,
  opts: TrainOptions,
  flagSpec: () => TrainSpecInput,
): { run: RunRecord; spec: TrainSpecInput; resumeFrom?: string } {
  const create = (spec: TrainSpecInput) => {
    try {
      const run = store.createRun(spec, undefined, { checkpointDir: opts.checkpointDir });
      return { ...run.spec, checkpointDir: run.checkpointDir ?? undefined, run };
    } catch (err) {
      if (err instanceof StoreError) throw new CliError(err.message, 2);
      throw err;
    }
  };
  if (!opts.resume) {
    const { run, ...spec } = create(flagSpec());
    return { run, spec };
  }
  // A folder of that name wins over a run whose id merely contains the text.
  const folder = existsSync(opts.resume);
  let existing: RunRecord | null;
  try {
    existing = store.findRun(opts.resume);
  } catch (err) {
    if (!folder) throw new CliError(`--resume: ${(err as Error).message}`, 2);
    existing = null;
  }
  if (existing && folder && existing.id !== opts.resume) existing = null;
  if (existing) {
    if (!RESUMABLE.includes(existing.status)) {
      throw new CliError(
        `run ${existing.id} is ${existing.status}; only ${RESUMABLE.join(" or ")} runs can be resumed`,
        2,
      );
    }
    const point = store.resumePoint(existing.id);
    if (!point) throw new CliError(`run ${existing.id} has no checkpoint to resume from`, 2);
    const spec = { ...existing.spec, checkpointDir: existing.checkpointDir ?? undefined };
    return { run: existing, spec, resumeFrom: point.path };
  }
  if (!folder)
    throw new CliError(
      `--resume: no run or checkpoint folder "${opts.resume}" (library ${store.home})`,
      2,
    );
  // A checkpoint folder (e.g. from before the library): a new run that starts from it.
  const resumeFrom = latestCheckpoint(opts.resume) ?? opts.resume;
  const { run, ...spec } = create(flagSpec());
  return { run, spec, resumeFrom };
}

async function train(
  store: RunStore,
  run: RunRecord,
  spec: TrainSpecInput,
  resumeFrom: string | undefined,
  opts: TrainOptions,
  io: Io,
  isTty: boolean,
): Promise<void> {
  const view = new ProgressView(io.out, isTty && !opts.json);
  const recorder = store.recorder(run.id);
  let recordingFailed = false;
  const record = (e: TrainEvent) => {
    if (recordingFailed) return;
    try {
      recorder.record(e);
    } catch (err) {
      // Never let the library stop a training run; say so once.
      recordingFailed = true;
      io.err(`warning: recording run ${run.id} in the library failed: ${(err as Error).message}\n`);
    }
  };
  const handle = startTraining(spec, {
    resumeFrom,
    onEvent: (e) => {
      record(e);
      if (opts.json) io.out(`${JSON.stringify(e)}\n`);
      else view.handle(e);
    },
  });
  const onSigint = () => handle.stop();
  process.on("SIGINT", onSigint);
  try {
    await handle.done;
  } catch (err) {
    const e = err as Error & { code?: string };
    // The worker died without reporting (killed, crashed): the run failed.
    if (!recordingFailed) {
      try {
        recorder.fail({ code: e.code ?? "internal", message: e.message });
      } catch {}
    }
    if (opts.json)
      io.out(
        `${JSON.stringify({ type: "error", code: e.code ?? "internal", message: e.message })}\n`,
      );
    throw new CliError(e.message);
  } finally {
    process.off("SIGINT", onSigint);
    recorder.close();
  }
}
