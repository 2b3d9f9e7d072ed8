/**
 * `sgd-studio landscape`: simulated SGD on a 2-D test function from many
 * random starts, under one or more schedules; prints the success rate and the
 * mean final value per schedule with confidence intervals.
 */
import type { Command } from "commander";
import {
  compareWithConstant,
  DEFAULT_DATASET_SIZE,
  DEFAULT_KERNEL,
  DEFAULT_SEEDS,
  type ExperimentResult,
  FUNCTION_NAMES,
  FUNCTIONS,
  findLandscapeSchedule,
  KERNEL_NAMES,
  KERNELS,
  type KernelName,
  type LandscapeFunctionName,
  landscapeScheduleNames,
  type NamedSchedule,
  runExperiment,
} from "../../core/landscape/index.js";
import { num, table } from "../format.js";
import { CliError, type Io } from "../io.js";
import { oneOf, positiveNumber, wholeNumber } from "../options.js";
import { loadScheduleArg } from "../schedule-source.js";

interface LandscapeOptions {
  fn: LandscapeFunctionName;
  schedule?: string[];
  seeds: number;
  seed: number;
  kernel: KernelName;
  noise?: number;
  lrScale?: number;
  tolerance?: number;
  datasetSize: number;
  json?: boolean;
}

/** A preset, `constant-final-delta`, or a schedule file. */
function scheduleArg(arg: string): NamedSchedule {
  const named = findLandscapeSchedule(arg);
  if (named) return named;
  let schedule: ReturnType<typeof loadScheduleArg>;
  try {
    schedule = loadScheduleArg(arg);
  } catch (err) {
    if (err instanceof CliError && err.message.startsWith("no schedule file or preset")) {
      throw new CliError(
        `no schedule file or preset named "${arg}"; presets: ${landscapeScheduleNames().join(", ")}`,
      );
    }
    throw err;
  }
  const name = schedule.name ?? arg;
  return { name, title: name, schedule };
}

export function registerLandscapeCommand(program: Command, io: Io): void {
  program
    .command("landscape")
    .description(
      "simulate SGD on a 2-D test function from many random starts and compare schedules: success rate (ending at the global minimum) and mean final value",
    )
    .requiredOption(
      "--fn <name>",
      `test function: ${FUNCTION_NAMES.join(", ")}`,
      oneOf("--fn", FUNCTION_NAMES),
    )
    .option(
      "--schedule <file|preset>",
      "a schedule file or preset name; repeat to compare several (default: constant, constant at the final delta, the paper's three decays, polynomial delta p = 0.5 and 1)",
      (value: string, prev: string[] | undefined) => [...(prev ?? []), value],
    )
    .option("--seeds <N>", "random starts per schedule", wholeNumber("--seeds", 1), DEFAULT_SEEDS)
    .option("--seed <S>", "base seed", wholeNumber("--seed", 0), 0)
    .option(
      "--kernel <name>",
      "gradient-noise distribution: ball (||u|| <= 1, the paper's) or gaussian",
      oneOf("--kernel", KERNEL_NAMES),
      DEFAULT_KERNEL,
    )
    .option(
      "--noise <C>",
      "gradient-noise level C (default: the function's)",
      positiveNumber("--noise"),
    )
    .option(
      "--lr-scale <s>",
      "step size = s x the schedule's LR (default: the function's)",
      positiveNumber("--lr-scale"),
    )
    .option(
      "--tolerance <r>",
      "success: the final iterate within r of a global minimiser (default: the function's)",
      positiveNumber("--tolerance"),
    )
    .option(
      "--dataset-size <N>",
      "simulated dataset size: ceil(N / batch) iterations per epoch",
      wholeNumber("--dataset-size", 1),
      DEFAULT_DATASET_SIZE,
    )
    .option("--json", "print JSON")
    .action((opts: LandscapeOptions) => {
      const result = runExperiment({
        fn: opts.fn,
        kernel: opts.kernel,
        schedules: opts.schedule?.map(scheduleArg),
        seeds: opts.seeds,
        seed: opts.seed,
        c: opts.noise,
        lrScale: opts.lrScale,
        tolerance: opts.tolerance,
        datasetSize: opts.datasetSize,
      });
      io.out(opts.json ? `${JSON.stringify(landscapeJson(result), null, 2)}\n` : render(result));
    });
}

export function landscapeJson(r: ExperimentResult) {
  return {
    fn: r.fn,
    kernel: r.kernel,
    settings: (({ trajectories: _, ...s }) => s)(r.settings),
    minima: FUNCTIONS[r.fn].minima,
    minValue: FUNCTIONS[r.fn].minValue,
    schedules: r.schedules.map((s) => ({
      name: s.name,
      title: s.title,
      epochs: s.epochs,
      updates: s.updates,
      deltaStart: s.deltaStart,
      deltaEnd: s.deltaEnd,
      finalLr: s.finalLr,
      finalBatch: s.finalBatch,
      success: s.success,
      finalValue: s.finalValue,
      meanFinalDistance: s.meanFinalDistance,
    })),
    comparisons: compareWithConstant(r),
    elapsedMs: r.elapsedMs,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const fixed = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(2));
const sig3 = (x: number) => String(Number(x.toPrecision(3)));

function render(r: ExperimentResult): string {
  const f = FUNCTIONS[r.fn];
  const s = r.settings;
  const level = `${Math.round(s.level * 100)}%`;
  const minima = f.minima.map(
    ([x, y]) => `(${num(Number(x.toFixed(4)))}, ${num(Number(y.toFixed(4)))})`,
  );
  const head = [
    `${f.title}: ${s.seeds} seeds from uniform starts on [${f.domain.lo}, ${f.domain.hi}]^2; global minimum ${num(Number(f.minValue.toFixed(5)))} at ${minima.join(", ")}`,
    `noise ${r.kernel} (${KERNELS[r.kernel].title}), C = ${num(Number(s.c.toFixed(2)))}; step size = ${num(s.lrScale)} x LR; N = ${s.datasetSize} (ceil(N / batch) iterations per epoch)`,
    `success: final iterate within ${num(s.tolerance)} of a global minimiser; ${level} intervals: Wilson (rate), Student t (mean)`,
    "",
  ];
  const rows = r.schedules.map((o) => [
    o.name,
    `${sig3(o.deltaStart)} -> ${sig3(o.deltaEnd)}`,
    o.updates,
    `${pct(o.success.rate)} [${pct(o.success.lo)}, ${pct(o.success.hi)}]`,
    `${fixed(o.finalValue.mean)} [${fixed(o.finalValue.lo)}, ${fixed(o.finalValue.hi)}]`,
  ]);
  const lines = [
    ...head,
    table(
      ["schedule", "delta", "updates", `success [${level} CI]`, `mean final f [${level} CI]`],
      rows,
    ),
  ];
  const cmp = compareWithConstant(r);
  if (cmp.length > 0) {
    lines.push(
      `success rate minus that of the constant schedule at the same final delta (${level} CI, Newcombe):`,
    );
    for (const c of cmp) {
      const d = c.difference;
      const verdict = d.lo > 0 ? "higher" : d.hi < 0 ? "lower" : "not distinguishable";
      lines.push(
        `  ${c.schedule} - ${c.baseline}: ${d.diff >= 0 ? "+" : ""}${(100 * d.diff).toFixed(1)} points [${(100 * d.lo).toFixed(1)}, ${(100 * d.hi).toFixed(1)}]: ${verdict}`,
      );
    }
  }
  lines.push(`(${r.elapsedMs.toFixed(0)} ms)`);
  return `${lines.join("\n")}\n`;
}
