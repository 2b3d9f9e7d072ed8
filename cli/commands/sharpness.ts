/**
 * `sgd-studio sharpness <run-id>`: the worst-case sharpness of a finished
 * run's model at its last checkpoint (docs/sharpness.md), measured in a worker
 * process through the service's `runs.sharpness`, recorded as the run's
 * metrics, printed with its settings.
 */
import type { Command } from "commander";
import { ServiceError } from "../../core/api/contract.js";
import { BACKEND_NAMES } from "../../core/api/lists.js";
import {
  SHARPNESS_DEFAULTS,
  SHARPNESS_VARIANTS,
  type SharpnessValue,
  type SharpnessVariant,
} from "../../core/api/sharpness.js";
import { startTraining } from "../../core/engine/worker-client.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";
import { StoreError } from "../../core/store/errors.js";
import { resolveHome } from "../../core/store/paths.js";
import { num, table } from "../format.js";
import { CliError, type Io } from "../io.js";
import { optional, positiveNumber, wholeNumber } from "../options.js";
import { bar } from "../progress.js";

interface SharpnessOptions {
  rho?: string;
  rhoL2?: string;
  iters?: string;
  examples?: string;
  batch?: string;
  seed?: string;
  variants?: string;
  backend?: string;
  home?: string;
  json?: boolean;
}

function variantsArg(value: string): SharpnessVariant[] {
  const list = value
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
  for (const v of list) {
    if (!(SHARPNESS_VARIANTS as readonly string[]).includes(v)) {
      throw new CliError(
        `--variants takes ${SHARPNESS_VARIANTS.join(", ")} separated by commas (got "${v}")`,
        2,
      );
    }
  }
  if (list.length === 0) throw new CliError("--variants names no variant", 2);
  return [...new Set(list)] as SharpnessVariant[];
}

/** What a value was measured with, in words. */
export function describeSharpness(v: SharpnessValue): string {
  const set = v.adaptive
    ? `||d/|w|||_${v.norm === "linf" ? "inf" : "2"}`
    : `||d||_${v.norm === "linf" ? "inf" : "2"}`;
  return `${set} <= ${num(v.rho)}, ${v.iterations} iteration${v.iterations === 1 ? "" : "s"}, ${v.examples} examples (batch ${v.batchSize}), seed ${v.seed}`;
}

/** The values as a table: key, value, loss at w, and the settings. */
export function sharpnessTable(values: readonly SharpnessValue[]): string {
  return table(
    ["metric", "value", "loss", "set", "rho", "iters", "examples", "batch", "seed"],
    values.map((v) => [
      v.key,
      Number(v.value.toPrecision(5)),
      Number(v.loss.toPrecision(5)),
      `${v.adaptive ? "adaptive " : ""}${v.norm}`,
      v.rho,
      v.iterations,
      v.examples,
      v.batchSize,
      v.seed,
    ]),
  );
}

export function registerSharpnessCommand(program: Command, io: Io, isTty: boolean): void {
  program
    .command("sharpness <run>")
    .description(
      "measure the worst-case sharpness of a finished run's model at its last checkpoint (recorded as the run's metrics; docs/sharpness.md)",
    )
    .option(
      "--rho <R>",
      `radius of the adaptive box ||d/|w|||_inf <= R (default ${SHARPNESS_DEFAULTS.rho})`,
    )
    .option("--rho-l2 <R>", `radius of the plain L2 ball (default ${SHARPNESS_DEFAULTS.rhoL2})`)
    .option("--iters <N>", `ascent iterations per batch (default ${SHARPNESS_DEFAULTS.iterations})`)
    .option(
      "--examples <M>",
      `training examples of the evaluation subset (default ${SHARPNESS_DEFAULTS.examples})`,
    )
    .option("--batch <B>", `examples per batch (default ${SHARPNESS_DEFAULTS.batchSize})`)
    .option("--seed <S>", "seed choosing the subset (default 0)")
    .option(
      "--variants <list>",
      `which, comma-separated: ${SHARPNESS_VARIANTS.join(", ")} (default all)`,
    )
    .option("--backend <name>", `${BACKEND_NAMES.join(", ")} (default: the run's)`)
    .option("--home <dir>", "library folder (default: $SGD_STUDIO_HOME or the user-data folder)")
    .option("--json", "print the result as JSON")
    .action(async (run: string, opts: SharpnessOptions) => {
      const params = {
        id: run,
        rho: optional(positiveNumber("--rho"), opts.rho),
        rhoL2: optional(positiveNumber("--rho-l2"), opts.rhoL2),
        iterations: optional(wholeNumber("--iters", 1), opts.iters),
        examples: optional(wholeNumber("--examples", 1), opts.examples),
        batchSize: optional(wholeNumber("--batch", 1), opts.batch),
        seed: optional(wholeNumber("--seed", 0), opts.seed),
        variants: opts.variants === undefined ? undefined : variantsArg(opts.variants),
        backend: opts.backend,
      };
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
      const showProgress = isTty && !opts.json;
      const off = service.on((e) => {
        if (!showProgress || e.type !== "run.event" || e.event.type !== "sharpness") return;
        const { done, total } = e.event;
        if (total > 0 && !e.event.values)
          io.err(`\r${bar(done / total)} sharpness: ${done}/${total} passes\x1b[K`);
      });
      try {
        const result = await service.call("runs.sharpness", params);
        if (showProgress) io.err("\r\x1b[K");
        if (opts.json) {
          io.out(`${JSON.stringify(result, null, 1)}\n`);
          return;
        }
        io.out(
          `run ${result.id}: sharpness of the model after epoch ${result.epoch + 1}${result.backend ? ` on ${result.backend}` : ""}${result.seconds === null ? "" : ` in ${num(Number(result.seconds.toFixed(2)))} s`}\n`,
        );
        for (const v of result.values)
          io.out(`${v.key} = ${v.value.toPrecision(5)}  (${describeSharpness(v)})\n`);
        io.out(`\n${sharpnessTable(result.values)}`);
      } catch (err) {
        if (err instanceof ServiceError)
          throw new CliError(err.message, err.code === "invalid-params" ? 2 : 1);
        if (err instanceof StoreError) throw new CliError(err.message);
        throw err;
      } finally {
        off();
        await service.close();
      }
    });
}
