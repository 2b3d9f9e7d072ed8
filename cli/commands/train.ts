/**
 * `sgd-studio train`: one training run through the service (the same
 * RunManager as the app and the web host: claimed in the library, trained in
 * a worker process, recorded with every metric), with live progress.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { ServiceEvent } from "../../core/api/contract.js";
import {
  BACKEND_NAMES,
  DATASET_NAMES,
  MODEL_NAMES,
  OPTIMIZER_KINDS,
} from "../../core/api/lists.js";
import { latestCheckpoint } from "../../core/engine/checkpoint.js";
import type { TrainSpecInput } from "../../core/engine/events.js";
import type { OptimizerSpec } from "../../core/engine/optimizers.js";
import { parseThreads, WASM_THREADS_ENV } from "../../core/engine/wasm-threads-setting.js";
import { startTraining } from "../../core/engine/worker-client.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";
import { resolveHome } from "../../core/store/paths.js";
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
  resume?: string;
  trainLimit?: string;
  sharpness?: boolean;
  threads?: string;
  json?: boolean;
  home?: string;
  fit?: string;
  keepSchedule?: boolean;
}

export function registerTrainCommand(program: Command, io: Io, isTty: boolean): void {
  programRef = program;
  program
    .command("train")
    .description(
      "train a model with a schedule (runs in a worker process; Ctrl-C stops and keeps the checkpoint)",
    )
    .option("--dataset <name|path>", `${DATASET_NAMES.join(", ")}, or a path`, "default")
    .option("--model <name>", MODEL_NAMES.join(", "), "mlp")
    .option("--schedule <file|preset>", "schedule file or preset name", "paper-hybrid")
    .option(
      "--epochs <E>",
      "the run's length; a preset (relative to the run) goes through its whole shape in E epochs",
    )
    .option(
      "--fit <how>",
      "an epoch-time schedule file of another length than --epochs: truncate (default, with a warning) or fit (stretch it to the run)",
    )
    .option("--backend <name>", `${BACKEND_NAMES.join(", ")} (default: best available)`)
    .option("--seed <S>", "seed for initialisation, shuffling and augmentation", "0")
    .option("--optimizer <kind>", OPTIMIZER_KINDS.join(", "), "sgd")
    .option("--momentum <m>", "momentum for momentum/nesterov (default 0.9)")
    .option("--weight-decay <w>", "weight decay")
    .option(
      "--resume <run|dir>",
      "resume a stopped, interrupted or failed run (id) from its last checkpoint with its saved spec, or start a new run from a checkpoint folder",
    )
    .option(
      "--keep-schedule",
      "with --resume and --epochs: keep the schedule as the run trained it (its shape over the old length), cut or continued to the new length",
    )
    .option("--home <dir>", "library folder (default: $SGD_STUDIO_HOME or the user-data folder)")
    .option("--train-limit <N>", "train on the first N images only (quick runs)")
    .option(
      "--sharpness",
      "measure the final model's sharpness at the end of training (defaults of docs/sharpness.md; other settings: sgd-studio sharpness <run>)",
    )
    .option(
      "--threads <N|auto>",
      "wasm backend threads (default: $SGD_STUDIO_WASM_THREADS, the wasmThreads setting, else physical cores less one)",
    )
    .option("--json", "print one JSON event per line")
    .action(async (opts: TrainOptions) => {
      oneOf("--optimizer", OPTIMIZER_KINDS)(opts.optimizer);
      const flagSpec = (): TrainSpecInput => ({
        dataset: opts.dataset,
        model: opts.model,
        schedule: loadScheduleArg(opts.schedule),
        epochs: optional(wholeNumber("--epochs", 1), opts.epochs),
        ...(opts.fit === undefined ? {} : { fit: oneOf("--fit", ["truncate", "fit"])(opts.fit) }),
        backend: opts.backend,
        seed: wholeNumber("--seed", 0)(opts.seed),
        optimizer: {
          kind: opts.optimizer,
          momentum: optional(nonNegativeNumber("--momentum"), opts.momentum),
          weightDecay: optional(nonNegativeNumber("--weight-decay"), opts.weightDecay),
        },
        trainLimit: optional(wholeNumber("--train-limit", 1), opts.trainLimit),
        ...(opts.sharpness ? { sharpness: {} } : {}),
      });
      const threads = opts.threads === undefined ? null : parseThreads(opts.threads);
      if (opts.threads !== undefined && threads === null) {
        throw new CliError("--threads takes auto or a whole number >= 1", 2);
      }
      const home = resolveHome(opts.home);
      let service: Service;
      try {
        service = new Service({
          home,
          runs: runMethods({ home, launch: startTraining, takeQueue: false, trusted: true }),
        });
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      // After the service applied the wasmThreads setting: the flag wins. The worker inherits it.
      if (threads !== null) process.env[WASM_THREADS_ENV] = String(threads);
      try {
        await train(service, home, opts, flagSpec, io, isTty);
      } finally {
        await service.close();
      }
    });
}

/** Flags the user gave explicitly (commander fills the others with defaults). */
function explicitFlags(program: Command | undefined): Set<string> {
  const given = new Set<string>();
  const cmd = program?.commands.find((c) => c.name() === "train");
  if (!cmd) return given;
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    if (cmd.getOptionValueSource(key) === "cli") given.add(key);
  }
  return given;
}

let programRef: Command | undefined;

/** Starts (or resumes) the run through the service, shows progress, waits for its verdict. */
async function train(
  service: Service,
  home: string,
  opts: TrainOptions,
  flagSpec: () => TrainSpecInput,
  io: Io,
  isTty: boolean,
): Promise<void> {
  const view = new ProgressView(io.out, isTty && !opts.json);
  let runId: string | null = null;
  const early: ServiceEvent[] = [];
  let finished: (status: string, error?: string) => void = () => {};
  const verdict = new Promise<{ status: string; error?: string }>((resolve) => {
    finished = (status, error) => resolve({ status, error });
  });
  const handle = (e: ServiceEvent) => {
    if (e.type === "run.event") {
      if (opts.json) io.out(`${JSON.stringify(e.event)}\n`);
      else view.handle(e.event);
    } else if (
      e.type === "run.status" &&
      ["completed", "stopped", "failed", "interrupted"].includes(e.status)
    ) {
      finished(e.status, e.error);
    }
  };
  service.on((e) => {
    if (e.type === "queue.changed" || e.type === "sweep.changed") return;
    if (runId === null) early.push(e);
    else if (e.runId === runId) handle(e);
  });

  const started = await startOrResume(service, home, opts, flagSpec, io);
  runId = started.id;
  if (opts.json)
    io.out(`${JSON.stringify({ type: "run", id: runId, home, resumed: started.resumed })}\n`);
  else io.out(`run ${runId}${started.note ? ` (${started.note})` : ""}\n`);
  for (const e of early.splice(0))
    if (e.type !== "queue.changed" && e.type !== "sweep.changed" && e.runId === runId) handle(e);

  const onSigint = () => {
    void service.call("runs.stop", { id: runId as string }).catch(() => {});
  };
  process.on("SIGINT", onSigint);
  let result: { status: string; error?: string };
  try {
    result = await verdict;
  } finally {
    process.off("SIGINT", onSigint);
  }
  if (result.status === "completed" || result.status === "stopped") {
    if (!opts.json) io.out(`saved in the library: sgd-studio runs show ${runId}\n`);
    return;
  }
  const message = result.error ?? `run ${runId} ended ${result.status}`;
  if (opts.json) io.out(`${JSON.stringify({ type: "error", status: result.status, message })}\n`);
  const hint =
    result.status === "interrupted"
      ? `\nthe run is ${result.status}; continue it with: sgd-studio train --resume ${runId}`
      : "";
  throw new CliError(`${message}${hint}`);
}

/** What to train: a new run from the flags, the run --resume names, or a new run from a checkpoint folder. */
async function startOrResume(
  service: Service,
  home: string,
  opts: TrainOptions,
  flagSpec: () => TrainSpecInput,
  io: Io,
): Promise<{ id: string; resumed: boolean; note?: string }> {
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      const e = err as { code?: string; message: string };
      throw new CliError(
        e.message,
        ["invalid-params", "invalid-schedule", "conflict", "not-found"].includes(e.code ?? "")
          ? 2
          : 1,
      );
    }
  };
  if (!opts.resume) {
    const spec = flagSpec() as unknown as Record<string, unknown>;
    const { id } = await call(() => service.call("runs.start", { spec, here: true }));
    return { id, resumed: false };
  }
  // A folder of that name wins over a run whose id merely contains the text.
  const folder =
    existsSync(opts.resume) && !/^[A-Za-z0-9_-]+$/.test(opts.resume) ? opts.resume : null;
  const existing = folder
    ? null
    : await service
        .call("runs.get", { id: opts.resume })
        .catch((err: { code?: string; message: string }) => {
          if (err.code === "not-found" && existsSync(opts.resume as string)) return null;
          throw new CliError(`--resume: ${err.message}`, 2);
        });
  if (existing) {
    // The run continues with the spec it was started with. --backend and --epochs given now
    // change the rest of the run; other flags would make a different run, so they are ignored.
    const given = explicitFlags(programRef);
    const override: { backend?: string; epochs?: number; keepSchedule?: boolean } = {};
    if (given.has("backend") && opts.backend) override.backend = opts.backend;
    if (given.has("epochs")) override.epochs = wholeNumber("--epochs", 1)(opts.epochs as string);
    if (opts.keepSchedule) {
      if (override.epochs === undefined)
        throw new CliError("--keep-schedule goes with --epochs E (the run's new length)", 2);
      override.keepSchedule = true;
    }
    const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const ignored = [...given].filter(
      (k) =>
        !["resume", "json", "home", "backend", "epochs", "threads", "keepSchedule"].includes(k),
    );
    if (ignored.length)
      io.err(
        `note: run ${existing.id} resumes with the spec saved in the library; ignored: ${ignored.map(flag).join(", ")} (start a new run to change them)\n`,
      );
    const changes = Object.entries(override)
      .filter(([k]) => k !== "keepSchedule")
      .map(([k, v]) => `${flag(k)} ${v}`);
    if (changes.length)
      io.err(
        `note: run ${existing.id} resumes with ${changes.join(" and ")} (saved in its spec)${override.keepSchedule ? "; the schedule stays as trained, fixed in epochs, cut or continued to the new length" : ""}\n`,
      );
    await call(() =>
      service.call("runs.resume", { id: existing.id, here: true, override }).catch((err) => {
        // A new length that would move the schedule under the epochs already trained: the two choices, as commands.
        if ((err as { field?: string }).field !== "override.keepSchedule") throw err;
        const e = override.epochs as number;
        const schedule = existing.scheduleName ?? "<the same schedule>";
        const message = `${(err as Error).message
          .replace(/^override\.epochs: /, "--epochs: ")
          .replace("override.keepSchedule", "--keep-schedule")}:
  sgd-studio train --resume ${existing.id} --epochs ${e} --keep-schedule   # keep the schedule as trained
  sgd-studio train --schedule ${schedule} --epochs ${e}   # a new run: the whole shape in ${e} epochs`;
        throw Object.assign(new Error(message), { code: "invalid-params" });
      }),
    );
    const from =
      existing.resumeEpoch === null
        ? "from the start (no checkpoint yet)"
        : `from the checkpoint of epoch ${existing.resumeEpoch + 1}`;
    return { id: existing.id, resumed: true, note: `resuming ${from}` };
  }
  // A checkpoint folder (e.g. from before the library): a new run that starts from it.
  const dir = folder ?? (opts.resume as string);
  const checkpoint = latestCheckpoint(dir) ?? dir;
  if (!existsSync(join(checkpoint, "manifest.json")))
    throw new CliError(
      `--resume: no run or checkpoint folder "${opts.resume}" (library ${home})`,
      2,
    );
  let spec = flagSpec() as unknown as Record<string, unknown>;
  try {
    const manifest = JSON.parse(readFileSync(join(checkpoint, "manifest.json"), "utf8")) as {
      spec?: Record<string, unknown>;
    };
    if (manifest.spec) {
      const { checkpointDir: _drop, ...saved } = manifest.spec;
      spec = { ...saved };
    }
  } catch {}
  const runs = service.runManager();
  if (!runs) throw new CliError("the run library is not available", 1);
  const { id } = runs.startFrom(spec, checkpoint);
  return { id, resumed: true, note: `starting from ${checkpoint}` };
}
