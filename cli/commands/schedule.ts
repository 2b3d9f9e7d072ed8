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
      io.out(
        table(
          ["name", "description"],
          PRESETS.map((p) => [p.name, p.description]),
        ),
      );
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
    .action((arg: string, opts: PreviewOptions) => {
      const compiled = compileSchedule(loadScheduleArg(arg), {
        datasetSize: opts.datasetSize,
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
    .action((arg: string, opts: { datasetSize: number; dropLast?: boolean; out?: string }) => {
      const code = exportPyTorch(loadScheduleArg(arg), {
        datasetSize: opts.datasetSize,
        dropLast: opts.dropLast,
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
    epochs: c.epochs,
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
  const summary = [
    `${c.schedule.name ?? "schedule"}: ${t.epochs} epochs, N = ${c.datasetSize}${c.dropLast ? " (drop last)" : ""}`,
    `updates ${t.updates}, samples ${t.samples}, LR ${num(t.initialLr)} -> ${num(t.finalLr)}, batch ${t.initialBatch} -> ${t.finalBatch}`,
    `${c.deltaRelative ? "delta/delta0" : "delta"} ${num(t.deltaStart)} -> ${num(t.deltaEnd)} (min ${num(t.deltaMin)}, max ${num(t.deltaMax)})`,
  ];
  return `${table(header, rows)}\n${summary.join("\n")}\n`;
}
