/** `sgd-studio train`: one training run in a worker process, with live progress. */
import { join } from "node:path";
import type { Command } from "commander";
import { latestCheckpoint } from "../../core/engine/checkpoint.js";
import type { TrainSpecInput } from "../../core/engine/events.js";
import type { OptimizerSpec } from "../../core/engine/optimizers.js";
import { startTraining } from "../../core/engine/worker-client.js";
import { defaultHomeDir } from "../../core/store/paths.js";
import { CliError, type Io } from "../io.js";
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
}

function int(flag: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`${flag} must be a whole number >= ${min} (got "${value}")`, 2);
  return n;
}

function real(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new CliError(`${flag} must be a number >= 0 (got "${value}")`, 2);
  return n;
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
      "where epoch checkpoints go (default: in the SGD Studio home folder)",
    )
    .option(
      "--resume <dir>",
      "resume from a checkpoint folder (or a checkpoint dir with latest.json)",
    )
    .option("--train-limit <N>", "train on the first N images only (quick runs)")
    .option("--json", "print one JSON event per line")
    .action(async (opts: TrainOptions) => {
      const kinds = ["sgd", "momentum", "nesterov", "adam", "adamw"];
      if (!kinds.includes(opts.optimizer)) {
        throw new CliError(
          `--optimizer must be one of ${kinds.join(", ")} (got "${opts.optimizer}")`,
          2,
        );
      }
      const resumeFrom = opts.resume ? (latestCheckpoint(opts.resume) ?? opts.resume) : undefined;
      const checkpointDir =
        opts.checkpointDir ??
        join(defaultHomeDir(), "checkpoints", new Date().toISOString().replace(/[:.]/g, "-"));
      const spec: TrainSpecInput = {
        dataset: opts.dataset,
        model: opts.model,
        schedule: loadScheduleArg(opts.schedule),
        epochs: int("--epochs", opts.epochs, 1),
        backend: opts.backend,
        seed: int("--seed", opts.seed) ?? 0,
        optimizer: {
          kind: opts.optimizer,
          momentum: real("--momentum", opts.momentum),
          weightDecay: real("--weight-decay", opts.weightDecay),
        },
        checkpointDir,
        trainLimit: int("--train-limit", opts.trainLimit, 1),
      };
      const view = new ProgressView(io.out, isTty && !opts.json);
      const handle = startTraining(spec, {
        resumeFrom,
        onEvent: (e) => (opts.json ? io.out(`${JSON.stringify(e)}\n`) : view.handle(e)),
      });
      const onSigint = () => handle.stop();
      process.on("SIGINT", onSigint);
      try {
        await handle.done;
      } catch (err) {
        const e = err as Error & { code?: string };
        if (opts.json)
          io.out(
            `${JSON.stringify({ type: "error", code: e.code ?? "internal", message: e.message })}\n`,
          );
        throw new CliError(e.message);
      } finally {
        process.off("SIGINT", onSigint);
      }
    });
}
