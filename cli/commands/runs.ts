/** `sgd-studio runs ...`: list, show, export, import, delete, tag and annotate runs in the library. */
import { existsSync, readFileSync, statSync } from "node:fs";
import type { Command } from "commander";
import { RUN_STATUSES, type RunStatus } from "../../core/api/lists.js";
import { StoreError } from "../../core/store/errors.js";
import { resolveHome } from "../../core/store/paths.js";
import { type RunRecord, RunStore } from "../../core/store/store.js";
import { csvChunks, type ExportFormat } from "../../core/store/transfer.js";
import { type Cell, num, table } from "../format.js";
import { CliError, type Io } from "../io.js";

interface HomeOption {
  home?: string;
}

/** Opens the library, runs `fn`, closes it; library errors become one-line CLI errors. */
export function withStore<T>(opts: HomeOption, fn: (store: RunStore) => T): T {
  let store: RunStore | null = null;
  try {
    store = RunStore.open(resolveHome(opts.home));
    return fn(store);
  } catch (err) {
    if (err instanceof StoreError) throw new CliError(err.message, err.code === "invalid" ? 2 : 1);
    // SQLite (e.g. SQLITE_BUSY: another process holds the library too long) and file errors.
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && (code.startsWith("SQLITE_") || /^E[A-Z]+$/.test(code)))
      throw new CliError((err as Error).message);
    throw err;
  } finally {
    store?.close();
  }
}

const HOME_HELP = "library folder (default: $SGD_STUDIO_HOME or the user-data folder)";

const dash = (x: number | null | undefined): Cell => (x === null || x === undefined ? "-" : x);

function when(iso: string | null): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : "-";
}

function progress(run: RunRecord): string {
  const done = run.lastEpoch === null ? 0 : run.lastEpoch + 1;
  return run.plannedEpochs === null ? String(done) : `${done}/${run.plannedEpochs}`;
}

function listTable(runs: RunRecord[]): string {
  return table(
    [
      "id",
      "status",
      "model",
      "dataset",
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
      r.scheduleName ?? "-",
      progress(r),
      dash(r.final.testAccuracy),
      dash(r.best.testAccuracy),
      when(r.createdAt),
      r.tags.join(",") || "-",
    ]),
  );
}

function showText(store: RunStore, run: RunRecord): string {
  const lines: string[] = [];
  const field = (name: string, value: unknown) =>
    lines.push(`${`${name}:`.padEnd(14)}${value === null || value === undefined ? "-" : value}`);
  field("run", run.id);
  field("status", run.status);
  if (run.error) field("error", `${run.error.code}: ${run.error.message}`);
  field("model", run.model);
  field("dataset", run.dataset);
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
  field("test acc", run.final.testAccuracy === null ? null : num(run.final.testAccuracy));
  field(
    "best",
    run.best.testAccuracy === null
      ? null
      : `${num(run.best.testAccuracy)} (epoch ${run.best.epoch})`,
  );
  field("tags", run.tags.join(", ") || null);
  field("note", run.note);
  const resume = store.resumePoint(run.id);
  field("checkpoint", resume ? `${resume.path} (epoch ${resume.epoch})` : null);
  const keys = store.metricKeys(run.id);
  if (keys.length > 0) {
    lines.push("");
    const rows = keys.map((k) => {
      const bf = store.bestAndFinal(run.id, k.key);
      return [
        k.key,
        k.count,
        dash(bf.final?.value),
        dash(bf.best?.value),
        bf.best ? `${bf.mode} @ step ${bf.best.step}` : "-",
      ];
    });
    lines.push(table(["metric", "points", "final", "best", "reached"], rows).trimEnd());
  }
  return `${lines.join("\n")}\n`;
}

export function registerRunsCommands(program: Command, io: Io): void {
  const runs = program.command("runs").description("the run library: list, show, export, import");

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
        withStore(opts, (store) => {
          const list = store.listRuns({
            status: opts.status as RunStatus | undefined,
            tag: opts.tag,
            limit,
          });
          if (opts.json) io.out(`${JSON.stringify(list, null, 2)}\n`);
          else if (list.length === 0) io.out(`no runs in ${store.home}\n`);
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
    .action((id: string, opts: HomeOption & { json?: boolean }) => {
      withStore(opts, (store) => {
        const run = store.getRun(id);
        if (!opts.json) {
          io.out(showText(store, run));
          return;
        }
        const metrics = store.metricKeys(run.id).map((k) => ({
          ...k,
          ...store.bestAndFinal(run.id, k.key),
        }));
        io.out(
          `${JSON.stringify({ run, metrics, checkpoints: store.checkpoints(run.id), resume: store.resumePoint(run.id) }, null, 2)}\n`,
        );
      });
    });

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
      const format = opts.format as ExportFormat;
      withStore(opts, (store) => {
        const full = ids.map((id) => store.resolveId(id));
        if (opts.out === "-") {
          if (format === "json") io.out(`${JSON.stringify(store.exportRuns(full))}\n`);
          else for (const chunk of csvChunks(store, full)) io.out(chunk);
          return;
        }
        const { runs: n, rows } = store.exportRunsToFile(full, format, opts.out);
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
        const text = readFileSync(file, "utf8");
        withStore(opts, (store) => {
          let result: ReturnType<RunStore["importRuns"]>;
          try {
            result = store.importRuns(text, { duplicates: modes[0] ?? "refuse" });
          } catch (err) {
            if (err instanceof StoreError)
              throw new CliError(`cannot import ${file}: ${err.message}`);
            throw err;
          }
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
    .description("delete runs with their metrics and checkpoints")
    .argument("<id...>", "run ids")
    .option("--home <dir>", HOME_HELP)
    .action((ids: string[], opts: HomeOption) => {
      withStore(opts, (store) => {
        const full = ids.map((id) => store.resolveId(id));
        for (const id of full) {
          const { removed } = store.deleteRun(id);
          io.out(
            `deleted ${id}${removed.length ? ` and its checkpoints (${removed.join(", ")})` : ""}\n`,
          );
        }
      });
    });

  runs
    .command("tag")
    .description("tag a run (or remove a tag with --remove)")
    .argument("<id>", "run id")
    .argument("<tag>", "tag")
    .option("--remove", "remove the tag instead")
    .option("--home <dir>", HOME_HELP)
    .action((id: string, tag: string, opts: HomeOption & { remove?: boolean }) => {
      withStore(opts, (store) => {
        const run = store.getRun(id);
        if (opts.remove) store.untag(run.id, tag);
        else store.tag(run.id, tag);
        io.out(`${run.id}: ${store.getRun(run.id).tags.join(", ") || "(no tags)"}\n`);
      });
    });

  runs
    .command("note")
    .description("set a run's note (no text prints it; --clear removes it)")
    .argument("<id>", "run id")
    .argument("[text...]", "the note")
    .option("--clear", "remove the note")
    .option("--home <dir>", HOME_HELP)
    .action((id: string, text: string[], opts: HomeOption & { clear?: boolean }) => {
      withStore(opts, (store) => {
        const run = store.getRun(id);
        if (opts.clear) store.setNote(run.id, null);
        else if (text.length > 0) store.setNote(run.id, text.join(" "));
        else {
          io.out(`${run.note ?? "(no note)"}\n`);
          return;
        }
        io.out(`${run.id}: note ${opts.clear ? "removed" : "saved"}\n`);
      });
    });
}
