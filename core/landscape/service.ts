/**
 * The landscape methods of the service: `landscape.grid` (f or f_delta on a
 * grid, for the heat maps) and `landscape.experiment` (many seeds under
 * several schedules). Their params schemas and result types are in params.ts.
 */

import type { ParsedParams, Results } from "../api/contract.js";
import { ServiceError } from "../api/contract.js";
import { parseSchedule, ScheduleError } from "../schedule/index.js";
import {
  compareWithConstant,
  DEFAULT_DATASET_SIZE,
  defaultNoiseLevel,
  defaultSchedules,
  findLandscapeSchedule,
  landscapeScheduleNames,
  type NamedSchedule,
  runExperiment,
  SIMULATION_DEFAULTS,
} from "./experiment.js";
import { FUNCTION_NAMES, FUNCTIONS, type LandscapeFunctionName } from "./functions.js";
import { KERNEL_NAMES, type KernelName, kernelOf } from "./kernels.js";
import { type LandscapeFunctionInfo, MAX_EXPERIMENT_ITERATIONS } from "./params.js";
import { planSimulation } from "./simulate.js";
import { smoothedGrid } from "./smooth.js";

export function functionInfo(name: LandscapeFunctionName): LandscapeFunctionInfo {
  const f = FUNCTIONS[name];
  const d = SIMULATION_DEFAULTS[name];
  return {
    name: f.name,
    title: f.title,
    formula: f.formula,
    domain: { ...f.domain },
    minima: f.minima.map(([x, y]) => [x, y]),
    minValue: f.minValue,
    closedForm: f.smoothed !== null,
    defaults: {
      lrScale: d.lrScale,
      noise: Object.fromEntries(KERNEL_NAMES.map((k) => [k, defaultNoiseLevel(name, k)])) as Record<
        KernelName,
        number
      >,
      tolerance: d.tolerance,
    },
  };
}

/** The most function evaluations one Monte Carlo grid may take (128 x 128 points x 1024 samples). */
export const MAX_GRID_EVALUATIONS = 128 * 128 * 1024;

export function grid(p: ParsedParams<"landscape.grid">): Results["landscape.grid"] {
  const f = FUNCTIONS[p.fn];
  if (f.smoothed === null && p.delta > 0 && p.size * p.size * p.samples > MAX_GRID_EVALUATIONS) {
    throw new ServiceError(
      "invalid-params",
      `landscape.grid: ${p.size} x ${p.size} points x ${p.samples} Monte Carlo samples is over the ${MAX_GRID_EVALUATIONS.toLocaleString("en-US")}-evaluation limit; use fewer samples or a smaller size`,
      "samples",
    );
  }
  const g = smoothedGrid(f, {
    size: p.size,
    delta: p.delta,
    kernel: kernelOf(p.kernel),
    samples: p.samples,
    seed: p.seed,
  });
  return {
    fn: functionInfo(p.fn),
    kernel: p.kernel,
    delta: p.delta,
    size: g.size,
    // Float32 precision (7 significant digits): half the JSON of full doubles.
    values: Array.from(g.values, (v) => Number(v.toPrecision(7))),
    min: g.min,
    max: g.max,
    method: g.method,
    samples: g.samples,
    functions: FUNCTION_NAMES.map((n) => ({ name: n, title: FUNCTIONS[n].title })),
  };
}

function resolveSchedules(input: unknown[] | undefined): NamedSchedule[] | undefined {
  if (!input) return undefined;
  return input.map((item, i) => {
    if (typeof item === "string") {
      const found = findLandscapeSchedule(item);
      if (!found) {
        throw new ServiceError(
          "invalid-schedule",
          `no preset named "${item}"; use one of ${landscapeScheduleNames().join(", ")}, or a schedule document`,
          `schedules.${i}`,
        );
      }
      return found;
    }
    try {
      const schedule = parseSchedule(item);
      const name = schedule.name ?? `schedule ${i + 1}`;
      return { name, title: name, schedule };
    } catch (err) {
      if (err instanceof ScheduleError) {
        const first = err.issues[0];
        throw new ServiceError(
          "invalid-schedule",
          err.message,
          first ? `schedules.${i}.${first.path}` : `schedules.${i}`,
        );
      }
      throw err;
    }
  });
}

export function experiment(
  p: ParsedParams<"landscape.experiment">,
): Results["landscape.experiment"] {
  const schedules = resolveSchedules(p.schedules) ?? defaultSchedules();
  // Refuse, before running, an experiment that would block the host for long.
  const settings = {
    c: p.noise ?? defaultNoiseLevel(p.fn, p.kernel),
    lrScale: p.lrScale ?? SIMULATION_DEFAULTS[p.fn].lrScale,
    datasetSize: p.datasetSize ?? DEFAULT_DATASET_SIZE,
  };
  let total = 0;
  for (const s of schedules) total += planSimulation(s.schedule, settings).stepSize.length;
  if (total * p.seeds > MAX_EXPERIMENT_ITERATIONS) {
    throw new ServiceError(
      "invalid-params",
      `landscape.experiment: ${p.seeds} seeds x ${total} iterations is over the ${MAX_EXPERIMENT_ITERATIONS.toLocaleString("en-US")} limit; use fewer seeds, a smaller datasetSize, or shorter schedules`,
      "seeds",
    );
  }
  const result = runExperiment({
    fn: p.fn,
    kernel: p.kernel,
    schedules,
    seeds: p.seeds,
    seed: p.seed,
    c: p.noise,
    lrScale: p.lrScale,
    tolerance: p.tolerance,
    datasetSize: p.datasetSize,
    trajectories: p.trajectories,
    level: p.level,
  });
  return { ...result, info: functionInfo(p.fn), comparisons: compareWithConstant(result) };
}
