/** `sgd-studio schedule ...`: list presets, preview a compiled schedule, export it. */
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { type CompiledSchedule, compileSchedule, PRESETS } from "../../core/schedule/index.js";
import { exportPyTorch } from "../../core/schedule/pytorch.js";
import { type Cell, csv, num, table } from "../format.js";
import type { Io } from "../io.js";
import { oneOf, positiveNumber, wholeNumber } from "../options.js";
import { loadScheduleArg } from "../schedule-source.js";

const DEFAULT_DATASET_SIZE = 50_000;

interface PreviewOptions {
  datasetSize: number;
  epochs?: number;
  fit?: "truncate" | "fit";
  noise?: number;
  per: "epoch" | "step";
  format: "table" | "json" | "csv";
  dropLast?: boolean;
}

export function registerScheduleCommands(program: Command, io: Io): void {
  const schedule = program.command("schedule").description("design, preview and export schedules");

  schedule
    .command("presets")
    .description("list the built-in presets")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => {
      if (opts.json) {
        io.out(`${JSON.stringify(PRESETS, null, 2)}\n`);
        return;
      }
      io.out(presetList(process.stdout.columns));
    });

  schedule
    .command("preview")
    .description("compile a schedule (a JSON file or a preset name) and print its table")
    .argument("<schedule>", "schedule file (.json) or preset name")
    .option(
      "--dataset-size <N>",
      "training examples N",
      wholeNumber("--dataset-size", 1),
      DEFAULT_DATASET_SIZE,
    )
    .option(
      "--noise <C>",
      "gradient-noise level C (else delta is shown relative to delta_0)",
      positiveNumber("--noise"),
    )
    .option(
      "--per <unit>",
      "rows per epoch or per step",
      oneOf("--per", ["epoch", "step"] as const),
      "epoch",
    )
    .option(
      "--format <fmt>",
      "table, json or csv",
      oneOf("--format", ["table", "json", "csv"] as const),
      "table",
    )
    .option("--drop-last", "drop each epoch's last partial batch (overrides the schedule)")
    .option(
      "--epochs <E>",
      "the run's length: a schedule relative to the run (every preset) resolves to it",
      wholeNumber("--epochs", 1),
    )
    .option(
      "--fit <how>",
      "an epoch-time schedule of another length than --epochs: truncate (default, with a warning) or fit (stretch it)",
      oneOf("--fit", ["truncate", "fit"] as const),
    )
    .action((arg: string, opts: PreviewOptions) => {
      const compiled = compileSchedule(loadScheduleArg(arg), {
        datasetSize: opts.datasetSize,
        epochs: opts.epochs,
        fit: opts.fit,
        noise: opts.noise === undefined ? undefined : { c: opts.noise },
        dropLast: opts.dropLast,
      });
      io.out(renderPreview(compiled, opts));
      if (opts.format !== "json") {
        for (const w of compiled.warnings) io.err(`warning: ${w.message}\n`);
      }
    });

  schedule
    .command("export")
    .description("export a schedule as runnable code")
    .argument("<schedule>", "schedule file (.json) or preset name")
    .requiredOption(
      "--to <target>",
      "target framework: pytorch",
      oneOf("--to", ["pytorch"] as const),
    )
    .option(
      "--dataset-size <N>",
      "training examples N",
      wholeNumber("--dataset-size", 1),
      DEFAULT_DATASET_SIZE,
    )
    .option("--drop-last", "drop each epoch's last partial batch (overrides the schedule)")
    .option("--out <file>", "write to this file instead of stdout")
    .option(
      "--epochs <E>",
      "the run's length: a schedule relative to the run (every preset) resolves to it",
      wholeNumber("--epochs", 1),
    )
    .option(
      "--fit <how>",
      "an epoch-time schedule of another length than --epochs: truncate (default, with a warning) or fit (stretch it)",
      oneOf("--fit", ["truncate", "fit"] as const),
    )
    .action((arg: string, opts: Omit<PreviewOptions, "per" | "format"> & { out?: string }) => {
      const compiled = compileSchedule(loadScheduleArg(arg), {
        datasetSize: opts.datasetSize,
        dropLast: opts.dropLast,
        epochs: opts.epochs,
        fit: opts.fit,
      });
      for (const w of compiled.warnings.filter((x) => x.code.startsWith("run-")))
        io.err(`warning: ${w.message}\n`);
      const code = exportPyTorch(loadScheduleArg(arg), {
        datasetSize: opts.datasetSize,
        dropLast: opts.dropLast,
        epochs: opts.epochs,
        fit: opts.fit,
      });
      if (opts.out) writeFileSync(opts.out, code);
      else io.out(code);
    });
}

const EPOCH_COLUMNS = ["epoch", "lr", "batchSize", "steps", "samples", "delta"] as const;
const STEP_COLUMNS = ["step", "epoch", "lr", "batchSize", "delta"] as const;

function epochRows(c: CompiledSchedule): Cell[][] {
  return c.epochs.map((r) => [r.epoch, r.lr, r.batchSize, r.steps, r.samples, r.delta]);
}

function stepRows(c: CompiledSchedule): Cell[][] {
  const { epoch, lr, batchSize, delta } = c.steps;
  const rows: Cell[][] = new Array(lr.length);
  for (let k = 0; k < lr.length; k++) {
    rows[k] = [k, epoch[k] as number, lr[k] as number, batchSize[k] as number, delta[k] as number];
  }
  return rows;
}

export function previewJson(c: CompiledSchedule, per: "epoch" | "step") {
  const out: Record<string, unknown> = {
    name: c.schedule.name ?? null,
    datasetSize: c.datasetSize,
    dropLast: c.dropLast,
    deltaRelative: c.deltaRelative,
    /** How the document's length met the run's: relative, exact, truncate, extend or fit. */
    length: c.length,
    epochs: c.epochs,
    /** Runs of epochs with the same LR (at their first step) and batch size. */
    stages: stagesOf(c),
    totals: c.totals,
    warnings: c.warnings,
  };
  if (per === "step") {
    const { epoch, lr, batchSize, delta } = c.steps;
    out.steps = Array.from(lr, (v, k) => ({
      step: k,
      epoch: epoch[k],
      lr: v,
      batchSize: batchSize[k],
      delta: delta[k],
    }));
  }
  return out;
}

function renderPreview(c: CompiledSchedule, opts: PreviewOptions): string {
  if (opts.format === "json") return `${JSON.stringify(previewJson(c, opts.per))}\n`;
  const header: string[] = opts.per === "step" ? [...STEP_COLUMNS] : [...EPOCH_COLUMNS];
  if (c.deltaRelative) header[header.length - 1] = "delta/delta0";
  const rows = opts.per === "step" ? stepRows(c) : epochRows(c);
  if (opts.format === "csv") return csv(header, rows);
  const t = c.totals;
  const st = stagesOf(c);
  const summary = [
    `${c.schedule.name ?? "schedule"}: ${t.epochs} epochs${lengthNote(c)}, N = ${c.datasetSize}${c.dropLast ? " (drop last)" : ""}`,
    `${st.length} stage${st.length === 1 ? "" : "s"} (LR at the stage's first step): ${st
      .map((x) => `epochs ${x.from}-${x.to} LR ${num(x.lr)} batch ${x.batchSize}`)
      .join("; ")}`,
    `updates ${t.updates}, samples ${t.samples}, LR ${num(t.initialLr)} -> ${num(t.finalLr)}, batch ${t.initialBatch} -> ${t.finalBatch}`,
    `${c.deltaRelative ? "delta/delta0" : "delta"} ${num(t.deltaStart)} -> ${num(t.deltaEnd)} (min ${num(t.deltaMin)}, max ${num(t.deltaMax)})`,
  ];
  return `${table(header, rows)}\n${summary.join("\n")}\n`;
}

/** Runs of whole epochs with the same first-step LR and batch size. */
export function stagesOf(
  c: CompiledSchedule,
): { from: number; to: number; lr: number; batchSize: number }[] {
  const out: { from: number; to: number; lr: number; batchSize: number }[] = [];
  for (const r of c.epochs) {
    const last = out.at(-1);
    if (last && last.lr === r.lr && last.batchSize === r.batchSize) last.to = r.epoch;
    else out.push({ from: r.epoch, to: r.epoch, lr: r.lr, batchSize: r.batchSize });
  }
  return out;
}

function lengthNote(c: CompiledSchedule): string {
  const { mode, scheduleEpochs } = c.length;
  if (mode === "relative") return " (relative to the run)";
  if (mode === "fit") return ` (a ${scheduleEpochs}-epoch schedule fitted to the run)`;
  if (mode === "truncate") return ` (the first ${c.totals.epochs} of ${scheduleEpochs}: truncated)`;
  if (mode === "extend") return ` (a ${scheduleEpochs}-epoch schedule, continued)`;
  return "";
}

/** `schedule presets`: each name with its title, then its description wrapped and indented. */
export function presetList(columns: number | undefined): string {
  const width = Math.max(40, Math.min(columns ?? 80, 100));
  const lines: string[] = [];
  for (const p of PRESETS) {
    lines.push(`${p.name}  ${p.title}`);
    lines.push(...wrap(p.description, width - 4).map((l) => `    ${l}`));
    lines.push("");
  }
  lines.push(
    "Every preset is relative to the run: --epochs E (train, schedule preview) runs its whole shape in E epochs (default 200).",
  );
  return `${lines.join("\n")}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}
