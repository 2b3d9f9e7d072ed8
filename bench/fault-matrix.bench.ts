/**
 * The fault matrix (issue 13): SIGKILLs the host (`sgd-studio train` /
 * `serve`) or its training worker at random moments of short runs, recovers
 * as a user would, and checks that no run is lost, no metric is missing and
 * no row is duplicated (see bench/fault-matrix.ts for what each check means).
 *
 * Run: npx tsc -p tsconfig.json && npx tsx bench/fault-matrix.bench.ts [--faults 50] [--seed S] [--json] [--keep]
 * Exits 1 when any total is not 0 or a library fails PRAGMA integrity_check.
 */
import { formatReport, passed, runFaultMatrix } from "./fault-matrix.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const faults = Number(arg("faults") ?? 50);
const seed = Number(arg("seed") ?? Date.now() % 1_000_000);
const json = process.argv.includes("--json");
if (!Number.isInteger(faults) || faults < 1 || !Number.isInteger(seed)) {
  process.stderr.write("usage: fault-matrix.bench.ts [--faults N] [--seed S] [--json] [--keep]\n");
  process.exit(2);
}

const t0 = performance.now();
const result = await runFaultMatrix({
  faults,
  seed,
  keep: process.argv.includes("--keep"),
  log: (line) =>
    process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${line}\n`),
});
if (json) process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
else process.stdout.write(`${formatReport(result)}\n`);
if (!passed(result)) process.stderr.write(`libraries kept for inspection in ${result.dir}\n`);
process.exitCode = passed(result) ? 0 : 1;
