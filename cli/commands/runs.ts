/**
 * `sgd-studio runs ...`: list, show, export, import, delete, tag, annotate,
 * resume and stop runs in the library. Every subcommand goes through the
 * in-process service (the same `runs.*` methods and RunManager as `train`,
 * `serve` and the app); a `runs` command never trains: it does not take the
 * queue, and a run it resumes waits for a host (the app or `serve`).
 */
import { existsSync, readFileSync, statSync, writeSync } from "node:fs";
import type { Command } from "commander";
import { ServiceError } from "../../core/api/contract.js";
import { BACKEND_NAMES, RUN_STATUSES, type RunStatus } from "../../core/api/lists.js";
import type { BestAndFinal, RunDetails, RunRecord } from "../../core/api/records.js";
import { runMethods, type TrainingLauncher } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";
import { StoreError } from "../../core/store/errors.js";
import { resolveHome } from "../../core/store/paths.js";
import { countLines, writeFileAtomically } from "../../core/store/transfer.js";
import { type Cell, num, table } from "../format.js";
import { CliError, type Io } from "../io.js";
import { optional, wholeNumber } from "../options.js";

interface HomeOption {
  home?: string;
}

/** What a `runs` command hands the RunManager as its launcher: it never trains. */
const neverTrains: TrainingLauncher = () => {
  throw new ServiceError("internal", "`sgd-studio runs` never trains a run");
};

/** Any failure as one CLI line: invalid input exits 2, everything else 1; never a stack trace. */
function cliError(err: unknown): unknown {
  if (err instanceof CliError) return err;
  if (err instanceof ServiceError)
    return new CliError(err.message, err.code === "invalid-params" ? 2 : 1);
  if (err instanceof StoreError) return new CliError(err.message, err.code === "invalid" ? 2 : 1);
  // SQLite (e.g. SQLITE_BUSY: another process holds the library too long) and file errors.
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (code.startsWith("SQLITE_") || /^E[A-Z]+$/.test(code)))
    return new CliError((err as Error).message);
  return err;
}

/**
 * Runs `fn` against an in-process service over the library at `--home` (the
 * queue is not taken, nothing trains) and closes it; errors become one line.
 */
async function withService<T>(
  opts: HomeOption,
  fn: (service: Service, home: string) => Promise<T>,
): Promise<T> {
  const home = resolveHome(opts.home);
  let service: Service;
  try {
    service = new Service({
      home,
      runs: runMethods({
        home,
        launch: neverTrains,
        takeQueue: false,
        trusted: true,
        // A one-shot command may wait for a host's write (as long as an open waits); hosts wait 200 ms.
        lockWaitMs: 10_000,
      }),
    });
  } catch (err) {
    throw cliError(err);
  }
  try {
    return await fn(service, home);
  } catch (err) {
    throw cliError(err);
  } finally {
    await service.close();
  }
}

const HOME_HELP = "library folder (default: $SGD_STUDIO_HOME or the user-data folder)";

const dash = (x: number | null | undefined): Cell => (x === null || x === undefined ? "-" : x);

/** Accuracy keys (trainAccuracy, testAccuracy): shown in percent. */
function isAccuracy(key: string): boolean {
  return /accuracy/i.test(key);
}

/** Accuracy as percent, as the app and `train` show it (the library and exports keep fractions). */
function percent(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "-" : `${(100 * x).toFixed(2)}%`;
}

/** The name given with `runs rename` ("-" without one: the schedule's name is its own column). */
function displayName(run: { environment: Record<string, unknown> }): string {
  const given = run.environment.displayName;
  return typeof given === "string" && given ? given : "-";
}

function when(iso: string | null): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : "-";
}

function progress(run: RunRecord): string {
  const done = run.lastEpoch === null ? 0 : run.lastEpoch + 1;
  return run.plannedEpochs === null ? String(done) : `${done}/${run.plannedEpochs}`;
}

/** The library record of a run as the service returns it, without the service's additions. */
function record(run: RunRecord & Partial<RunDetails>): RunRecord {
  const { name: _n, checkpoints: _c, keys: _k, resume: _r, stats: _s, ...rest } = run;
  return rest;
}

function listTable(runs: RunRecord[]): string {
  return table(
    [
      "id",
      "status",
      "model",
      "dataset",
      "name",
      "schedule",
      "epochs",
      "test acc",
      "best",
      "created",
      "tags",
    ],
    runs.map((r) => [
      r.id,
      r.status,
      r.model,
      r.dataset,
      displayName(r),
      r.scheduleName ?? "-",
      progress(r),
      percent(r.final.testAccuracy),
      percent(r.best.testAccuracy),
      when(r.createdAt),
      r.tags.join(",") || "-",
    ]),
  );
}

function showText(run: RunDetails, stats: BestAndFinal[]): string {
  const lines: string[] = [];
  const field = (name: string, value: unknown) =>
    lines.push(`${`${name}:`.padEnd(14)}${value === null || value === undefined ? "-" : value}`);
  field("run", run.id);
  field("status", run.status);
  if (run.error) field("error", `${run.error.code}: ${run.error.message}`);
  field("model", run.model);
  field("dataset", run.dataset);
  field("name", displayName(run));
  field("schedule", run.scheduleName ?? "(unnamed)");
  field("optimizer", run.optimizer);
  field("seed", run.seed);
  field("backend", run.environment.backendSummary ?? run.backend);
  field("created", run.createdAt);
  field("started", run.startedAt);
  field("finished", run.finishedAt);
  field("epochs", progress(run));
  field("steps", run.lastStep === null ? null : run.lastStep + 1);
  field("wall time", run.wallTime === null ? null : `${num(run.wallTime)} s`);
  // Accuracy in percent and epochs counted from 1, as the app and `train` show them.
  field("test acc", run.final.testAccuracy === null ? null : percent(run.final.testAccuracy));
  field(
    "best",
    run.best.testAccuracy === null
      ? null
      : `${percent(run.best.testAccuracy)}${run.best.epoch === null ? "" : ` (epoch ${run.best.epoch + 1})`}`,
  );
  field("tags", run.tags.join(", ") || null);
  field("note", run.note);
  field(
    "checkpoint",
    run.resume
      ? `${run.resume.path}${run.resume.epoch === null ? "" : ` (after epoch ${run.resume.epoch + 1})`}`
      : null,
  );
  if (run.keys.length > 0) {
    lines.push("");
    const rows = run.keys.map((k, i) => {
      const bf = stats[i];
      return [
        k.key,
        k.count,
        isAccuracy(k.key) ? percent(bf?.final?.value) : dash(bf?.final?.value),
        isAccuracy(k.key) ? percent(bf?.best?.value) : dash(bf?.best?.value),
        bf?.best ? `${bf.mode} @ step ${bf.best.step}` : "-",
      ];
    });
    lines.push(table(["metric", "points", "final", "best", "reached"], rows).trimEnd());
  }
  return `${lines.join("\n")}\n`;
}

/** Writes `content` to `out` through a temporary file renamed into place. */
function writeExport(out: string, content: string): void {
  try {
    writeFileAtomically(out, (fd) => writeSync(fd, content));
  } catch (err) {
    if (err instanceof StoreError) throw new CliError(err.message, 2);
    throw new CliError(`cannot write ${out}: ${(err as Error).message}`);
  }
}

/** The run a command names (an id or a unique part of it), as the library holds it. */
function getRun(service: Service, id: string): Promise<RunDetails> {
  return service.call("runs.get", { id });
}

export function registerRunsCommands(program: Command, io: Io): void {
  const runs = program
    .command("runs")
    .description("the run library: list, show, export, import, resume, stop");

  runs
    .command("list")
    .description("list the runs in the library, newest first")
    .option("--json", "print JSON")
    .option("--status <status>", `only runs in this state (${RUN_STATUSES.join(", ")})`)
    .option("--tag <tag>", "only runs with this tag")
    .option("--limit <N>", "at most N runs")
    .option("--home <dir>", HOME_HELP)
    .action(
      (opts: HomeOption & { json?: boolean; status?: string; tag?: string; limit?: string }) => {
        if (opts.status !== undefined && !(RUN_STATUSES as readonly string[]).includes(opts.status))
          throw new CliError(`--status must be one of ${RUN_STATUSES.join(", ")}`, 2);
        const limit = opts.limit === undefined ? undefined : Number(opts.limit);
        if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
          throw new CliError(`--limit must be a whole number >= 1 (got "${opts.limit}")`, 2);
        return withService(opts, async (service, home) => {
          const all = await service.call("runs.list", {
            status: opts.status === undefined ? undefined : [opts.status as RunStatus],
            tag: opts.tag,
          });
          const list = all.slice(0, limit).map(record);
          if (opts.json) io.out(`${JSON.stringify(list, null, 2)}\n`);
          else if (list.length === 0) io.out(`no runs in ${home}\n`);
          else io.out(listTable(list));
        });
      },
    );

  runs
    .command("show")
    .description("show one run: spec, status, summary, metrics, checkpoints")
    .argument("<id>", "run id (or a unique part of it)")
    .option("--json", "print JSON")
    .option("--home <dir>", HOME_HELP)
    .action((id: string, opts: HomeOption & { json?: boolean }) =>
      withService(opts, async (service) => {
        const run = await service.call("runs.get", { id, stats: true });
        const stats = run.stats ?? [];
        if (!opts.json) {
          io.out(showText(run, stats));
          return;
        }
        const metrics = run.keys.map((k, i) => ({ ...k, ...stats[i] }));
        io.out(
          `${JSON.stringify({ run: record(run), metrics, checkpoints: run.checkpoints, resume: run.resume }, null, 2)}\n`,
        );
      }),
    );

  runs
    .command("export")
    .description(
      "export runs as portable JSON (spec, environment, all metrics) or all scalars as CSV",
    )
    .argument("<id...>", "run ids")
    .requiredOption("--out <path>", "file to write ('-' for standard output)")
    .option("--format <format>", "json or csv", "json")
    .option("--home <dir>", HOME_HELP)
    .action((ids: string[], opts: HomeOption & { out: string; format: string }) => {
      if (opts.format !== "json" && opts.format !== "csv")
        throw new CliError(`--format must be json or csv (got "${opts.format}")`, 2);
      const format = opts.format;
      return withService(opts, async (service) => {
        const { content } = await service.call("runs.export", { ids, format });
        let text = content;
        let rows: number;
        if (format === "json") {
          // One line, as before (the service indents its document for the app's downloads).
          const doc = JSON.parse(content) as {
            runs: { metrics: Record<string, { step: unknown[] }> }[];
          };
          text = JSON.stringify(doc);
          rows = 0;
          for (const r of doc.runs) for (const m of Object.values(r.metrics)) rows += m.step.length;
        } else rows = countLines(content) - 1;
        if (opts.out === "-") {
          io.out(format === "json" ? `${text}\n` : text);
          return;
        }
        writeExport(opts.out, text);
        const n = ids.length;
        io.out(`exported ${n} run${n === 1 ? "" : "s"} (${rows} values) to ${opts.out}\n`);
      });
    });

  runs
    .command("import")
    .description("import runs from a JSON export; refuses runs already in the library unless told")
    .argument("<file>", "a file written by `runs export --format json`")
    .option("--skip", "skip runs already in the library")
    .option("--replace", "replace runs already in the library")
    .option("--copy", "import runs already in the library under new ids")
    .option("--json", "print the result as JSON")
    .option("--home <dir>", HOME_HELP)
    .action(
      (
        file: string,
        opts: HomeOption & { skip?: boolean; replace?: boolean; copy?: boolean; json?: boolean },
      ) => {
        const modes = (["skip", "replace", "copy"] as const).filter((m) => opts[m]);
        if (modes.length > 1)
          throw new CliError("give at most one of --skip, --replace, --copy", 2);
        if (!existsSync(file) || !statSync(file).isFile())
          throw new CliError(`no such file: ${file}`, 2);
        const content = readFileSync(file, "utf8");
        if (content.trim() === "") throw new CliError(`cannot import ${file}: the file is empty`);
        return withService(opts, async (service) => {
          const result = await service
            .call("runs.import", { content, duplicates: modes[0] ?? "refuse" })
            .catch((err: unknown) => {
              // The file's faults (not JSON, a damaged run, runs already here); not the library's.
              if (err instanceof ServiceError && err.code !== "internal")
                throw new CliError(`cannot import ${file}: ${err.message}`);
              throw err;
            });
          if (opts.json) {
            io.out(`${JSON.stringify(result, null, 2)}\n`);
            return;
          }
          for (const r of result.imported)
            io.out(`imported ${r.id}${r.id === r.from ? "" : ` (was ${r.from})`}\n`);
          for (const id of result.skipped) io.out(`skipped ${id} (already in the library)\n`);
          if (result.imported.length === 0 && result.skipped.length === 0)
            io.out("the file holds no runs\n");
        });
      },
    );

  runs
    .command("delete")
    .description(
      "delete runs with their metrics and checkpoints (files outside the library are never touched)",
    )
    .argument("<id...>", "run ids")
    .option("--home <dir>", HOME_HELP)
    .action((ids: string[], opts: HomeOption) =>
      withService(opts, async (service) => {
        // Resolve every id first, so a typo deletes nothing.
        const full: string[] = [];
        for (const id of ids) full.push((await getRun(service, id)).id);
        for (const id of full) {
          const { removed, kept } = await service.call("runs.delete", { id });
          io.out(
            `deleted ${id}${removed.length ? ` and its checkpoints (${removed.join(", ")})` : ""}${kept.length ? `; left outside the library: ${kept.join(", ")}` : ""}\n`,
          );
        }
      }),
    );

  runs
    .command("tag")
    .description("tag a run (or remove a tag with --remove)")
    .argument("<id>", "run id")
    .argument("<tag>", "tag")
    .option("--remove", "remove the tag instead")
    .option("--home <dir>", HOME_HELP)
    .action((id: string, tag: string, opts: HomeOption & { remove?: boolean }) =>
      withService(opts, async (service) => {
        const run = await getRun(service, id);
        await service.call(opts.remove ? "runs.untag" : "runs.tag", { id: run.id, tag });
        io.out(`${run.id}: ${(await getRun(service, run.id)).tags.join(", ") || "(no tags)"}\n`);
      }),
    );

  runs
    .command("note")
    .description("set a run's note (no text prints it; --clear removes it)")
    .argument("<id>", "run id")
    .argument("[text...]", "the note")
    .option("--clear", "remove the note")
    .option("--home <dir>", HOME_HELP)
    .action((id: string, text: string[], opts: HomeOption & { clear?: boolean }) =>
      withService(opts, async (service) => {
        const run = await getRun(service, id);
        if (!opts.clear && text.length === 0) {
          io.out(`${run.note ?? "(no note)"}\n`);
          return;
        }
        await service.call("runs.note", { id: run.id, note: opts.clear ? "" : text.join(" ") });
        io.out(`${run.id}: note ${opts.clear ? "removed" : "saved"}\n`);
      }),
    );

  runs
    .command("rename")
    .description(
      "give a run a display name, shown instead of its schedule's name in the app, `runs list` and exports (--clear goes back to the schedule's name)",
    )
    .argument("<id>", "run id")
    .argument("[name...]", "the new name")
    .option("--clear", "remove the display name")
    .option("--home <dir>", HOME_HELP)
    .action((id: string, name: string[], opts: HomeOption & { clear?: boolean }) =>
      withService(opts, async (service) => {
        const run = await getRun(service, id);
        if (!opts.clear && name.join(" ").trim() === "")
          throw new CliError("give the new name (or --clear to go back to the schedule's name)", 2);
        await service.call("runs.rename", { id: run.id, name: opts.clear ? "" : name.join(" ") });
        io.out(
          `${run.id}: ${opts.clear ? "name removed" : `renamed to ${name.join(" ").trim()}`}\n`,
        );
      }),
    );

  runs
    .command("resume")
    .description(
      "put a stopped, interrupted or failed run back in the queue, to continue from its last checkpoint; the app or `sgd-studio serve` on this library trains it (`sgd-studio train --resume <id>` trains it here instead)",
    )
    .argument("<id>", "run id (or a unique part of it)")
    .option("--epochs <E>", "train to E epochs in all (more or fewer than planned)")
    .option("--backend <name>", `continue on another backend (${BACKEND_NAMES.join(", ")})`)
    .option("--home <dir>", HOME_HELP)
    .action((id: string, opts: HomeOption & { epochs?: string; backend?: string }) => {
      const epochs = optional(wholeNumber("--epochs", 1), opts.epochs);
      const override =
        epochs === undefined && opts.backend === undefined
          ? undefined
          : { epochs, backend: opts.backend };
      return withService(opts, async (service, home) => {
        const run = await getRun(service, id);
        await service.call("runs.resume", { id: run.id, override });
        const { queue } = await service.call("runs.queue", {});
        const at = queue.indexOf(run.id);
        const from =
          run.resumeEpoch === null
            ? "from the start (no checkpoint yet)"
            : `from the checkpoint of epoch ${run.resumeEpoch + 1}`;
        io.out(
          `run ${run.id} queued to resume ${from}${at >= 0 ? ` (${at + 1} of ${queue.length} in the queue)` : ""}\n` +
            `the app or \`sgd-studio serve\` with the library ${home} trains it; \`sgd-studio runs stop ${run.id}\` takes it out of the queue\n`,
        );
      });
    });

  runs
    .command("stop")
    .description(
      "take a queued run out of the queue (it becomes stopped); a run training elsewhere is stopped where it trains",
    )
    .argument("<id>", "run id (or a unique part of it)")
    .option("--home <dir>", HOME_HELP)
    .action((id: string, opts: HomeOption) =>
      withService(opts, async (service) => {
        const run = await getRun(service, id);
        await service.call("runs.stop", { id: run.id });
        io.out(`stopped ${run.id}\n`);
      }),
    );
}
