/**
 * `sgd-studio sweep ...`: grids and random searches of runs on this machine
 * (docs/sweeps.md). Every subcommand goes through the in-process service's
 * `sweeps.*` methods; members are ordinary runs in the library, so `runs`,
 * the app and `serve` see them too. Only `sweep run` trains: it takes the
 * sweep's members from the durable queue, N at a time, until none is left,
 * and requeues members a killed host left interrupted (at most 3 attempts
 * each; a member that failed on its own, e.g. a NaN loss, is not retried).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import type { Result } from "../../core/api/contract.js";
import { ServiceError } from "../../core/api/contract.js";
import type { SweepDetails, SweepSpecInput, SweepSummary } from "../../core/api/sweep.js";
import { WASM_THREADS_ENV } from "../../core/engine/wasm-threads-setting.js";
import { startTraining, type TrainingLauncher } from "../../core/engine/worker-client.js";
import { runMethods } from "../../core/service/runs.js";
import { Service } from "../../core/service/service.js";
import { StoreError } from "../../core/store/errors.js";
import { resolveHome } from "../../core/store/paths.js";
import { chooseConcurrency } from "../../core/sweep/concurrency.js";
import { memberLabel } from "../../core/sweep/expand.js";
import { findSweepTemplate, SWEEP_TEMPLATES } from "../../core/sweep/templates.js";
import { type Cell, table } from "../format.js";
import { CliError, type Io } from "../io.js";
import { optional, wholeNumber } from "../options.js";
import { bar, formatDuration } from "../progress.js";

const HOME_HELP = "library folder (default: $SGD_STUDIO_HOME or the user-data folder)";
/** Automatic retries of a member its host left interrupted (killed, out of memory, ...). */
const MAX_ATTEMPTS = 3;

interface Shrink {
  template?: string;
  epochs?: string;
  model?: string;
  dataset?: string;
  trainLimit?: string;
  testLimit?: string;
  backend?: string;
  seeds?: string;
  name?: string;
}

interface Common {
  home?: string;
  json?: boolean;
}

const neverTrains: TrainingLauncher = () => {
  throw new ServiceError("internal", "this sweep command never trains");
};

function cliError(err: unknown): unknown {
  if (err instanceof CliError) return err;
  if (err instanceof ServiceError)
    return new CliError(err.message, err.code === "invalid-params" ? 2 : 1);
  if (err instanceof StoreError) return new CliError(err.message, err.code === "invalid" ? 2 : 1);
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (code.startsWith("SQLITE_") || /^E[A-Z]+$/.test(code)))
    return new CliError((err as Error).message);
  return err;
}

/** A service over the library at --home that does not take the queue; closed after `fn`. */
async function withService<T>(
  opts: Common,
  fn: (service: Service) => Promise<T>,
  launch: TrainingLauncher = neverTrains,
): Promise<T> {
  const home = resolveHome(opts.home);
  let service: Service;
  try {
    service = new Service({
      home,
      runs: runMethods({ home, launch, takeQueue: false, trusted: true, lockWaitMs: 10_000 }),
    });
  } catch (err) {
    throw cliError(err);
  }
  try {
    return await fn(service);
  } catch (err) {
    throw cliError(err);
  } finally {
    await service.close();
  }
}

/** A sweep document from a file or a template, with the shrink flags applied to its base. */
function loadSpec(file: string | undefined, opts: Shrink): SweepSpecInput {
  let spec: Record<string, unknown>;
  if (
    opts.template !== undefined ||
    (file !== undefined && !existsSync(file) && findSweepTemplate(file))
  ) {
    const name = opts.template ?? (file as string);
    const t = findSweepTemplate(name);
    if (!t)
      throw new CliError(
        `no sweep template named "${name}"; templates: ${SWEEP_TEMPLATES.map((x) => x.name).join(", ")}`,
        2,
      );
    spec = structuredClone(t.spec) as Record<string, unknown>;
  } else if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 2);
    }
    try {
      spec = JSON.parse(text);
    } catch (err) {
      throw new CliError(
        `${file} is not JSON (${(err as Error).message}); a sweep is a JSON document (docs/sweeps.md)`,
        2,
      );
    }
  } else throw new CliError("give a sweep file or --template NAME (sgd-studio sweep templates)", 2);
  if (spec === null || typeof spec !== "object" || Array.isArray(spec))
    throw new CliError("a sweep document is a JSON object (docs/sweeps.md)", 2);
  const base = { ...((spec.base as Record<string, unknown> | undefined) ?? {}) };
  if (opts.epochs !== undefined) base.epochs = wholeNumber("--epochs", 1)(opts.epochs);
  if (opts.model !== undefined) base.model = opts.model;
  if (opts.dataset !== undefined) base.dataset = opts.dataset;
  if (opts.backend !== undefined) base.backend = opts.backend;
  if (opts.trainLimit !== undefined)
    base.trainLimit = wholeNumber("--train-limit", 1)(opts.trainLimit);
  if (opts.testLimit !== undefined) base.testLimit = wholeNumber("--test-limit", 1)(opts.testLimit);
  spec.base = base;
  if (opts.seeds !== undefined) spec.seeds = parseSeeds(opts.seeds);
  if (opts.name !== undefined) spec.name = opts.name;
  return spec as SweepSpecInput;
}

function parseSeeds(text: string): number | number[] {
  if (/^\d+$/.test(text)) return wholeNumber("--seeds", 1)(text);
  const list = text.split(",").map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 0))
    throw new CliError(`--seeds takes a count (3) or a list of seeds (0,1,2) (got "${text}")`, 2);
  return list;
}

/** `--axis lr=0.3,1` -> { lr: [0.3, 1] }; values are JSON where they parse, else strings. */
function parseAxes(list: string[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    if (eq < 1) throw new CliError(`--axis takes NAME=V1,V2 (got "${item}")`, 2);
    const name = item.slice(0, eq);
    const values = item
      .slice(eq + 1)
      .split(",")
      .map((v) => {
        try {
          return JSON.parse(v);
        } catch {
          return v;
        }
      });
    out[name] = [...(out[name] ?? []), ...values];
  }
  return out;
}

const pct = (x: number | null) => (x === null ? "-" : `${(100 * x).toFixed(1)}%`);

function progressLine(s: SweepSummary, eta: number | null): string {
  const c = s.counts;
  const fraction = s.epochsPlanned > 0 ? s.epochsDone / s.epochsPlanned : 0;
  return `${bar(fraction)} ${c.completed}/${c.total} done, ${c.running} running, ${c.queued} waiting${c.failed ? `, ${c.failed} failed` : ""}${c.interrupted ? `, ${c.interrupted} interrupted` : ""} | epochs ${s.epochsDone}/${s.epochsPlanned} | ETA ${eta === null ? "--" : formatDuration(eta)}`;
}

function statusText(s: SweepDetails): string {
  const lines = [
    `sweep ${s.id}${s.name ? ` (${s.name})` : ""}: ${s.state}${s.finished ? ", finished" : ""}`,
    `${s.method} over ${s.axes.join(", ") || "(no axes)"}; ${progressLine(s, s.etaSeconds)}`,
  ];
  if (s.noise)
    lines.push(
      `C = ${s.noise.c.toPrecision(4)} (${s.noise.method === "given" ? "given" : `estimated: ${s.noise.batches} batches of ${s.noise.batchSize} after one epoch on ${s.noise.trainLimit} images`})`,
    );
  const axes = s.members[0] ? Object.keys(s.members[0].values) : [];
  lines.push(
    table(
      ["run", "status", ...axes, "delta", "epochs", "test acc", "attempt"],
      s.members.map((m) => [
        m.runId,
        m.status,
        ...axes.map((a): Cell => {
          const v = m.values[a];
          return typeof v === "number" || typeof v === "string" ? v : JSON.stringify(v);
        }),
        m.delta === null ? "-" : Number(m.delta.toPrecision(3)),
        `${m.epochsDone}/${m.plannedEpochs ?? "?"}`,
        pct(m.finalTestAccuracy),
        m.attempt,
      ]),
    ),
  );
  return `${lines.join("\n")}\n`;
}

/** GPU adapters nvidia-smi lists (0 without nvidia-smi). */
function gpuCount(): number {
  try {
    return execFileSync("nvidia-smi", ["-L"], {
      encoding: "utf8",
      timeout: 5000,
      stdio: ["ignore", "pipe", "ignore"],
    })
      .split("\n")
      .filter((l) => l.startsWith("GPU ")).length;
  } catch {
    return 0;
  }
}

export function registerSweepCommands(program: Command, io: Io, isTty: boolean): void {
  const sweep = program
    .command("sweep")
    .description("grids and random searches of runs, trained on this machine (docs/sweeps.md)");

  const shrinkOptions = (cmd: Command) =>
    cmd
      .option("--template <name>", "start from a built-in sweep (sgd-studio sweep templates)")
      .option("--epochs <E>", "every member's length (shrink a template)")
      .option("--model <name>", "every member's model")
      .option("--dataset <name|path>", "every member's dataset")
      .option("--train-limit <N>", "train on the first N images only")
      .option("--test-limit <N>", "test on the first N images only")
      .option("--backend <name>", "every member's backend")
      .option("--seeds <N|list>", "seeds per configuration: a count (3) or a list (0,1,2)")
      .option("--name <name>", "the sweep's name");

  sweep
    .command("templates")
    .description("the built-in sweeps; --show NAME prints one to edit and create")
    .option("--show <name>", "print the template's JSON")
    .option("--json", "JSON")
    .action((opts: { show?: string; json?: boolean }) => {
      if (opts.show !== undefined) {
        const t = findSweepTemplate(opts.show);
        if (!t)
          throw new CliError(
            `no sweep template named "${opts.show}"; templates: ${SWEEP_TEMPLATES.map((x) => x.name).join(", ")}`,
            2,
          );
        io.out(`${JSON.stringify(t.spec, null, 2)}\n`);
        return;
      }
      if (opts.json) io.out(`${JSON.stringify(SWEEP_TEMPLATES, null, 1)}\n`);
      else
        for (const t of SWEEP_TEMPLATES)
          io.out(`${t.name.padEnd(16)} ${t.title}\n${" ".repeat(17)}${t.description}\n`);
    });

  shrinkOptions(
    sweep
      .command("create [file]")
      .description(
        "record a sweep and queue its members (a file, or --template NAME); nothing trains until `sweep run`",
      )
      .option("--home <dir>", HOME_HELP)
      .option("--json", "JSON"),
  ).action(async (file: string | undefined, opts: Shrink & Common) => {
    const spec = loadSpec(file, opts);
    // startTraining: a delta sweep without C estimates it with a short run first.
    const made = await withService(opts, (s) => s.call("sweeps.create", { spec }), startTraining);
    if (opts.json) io.out(`${JSON.stringify(made)}\n`);
    else
      io.out(
        `sweep ${made.id}: ${made.members} members queued; train them with: sgd-studio sweep run ${made.id}\n`,
      );
  });

  shrinkOptions(
    sweep
      .command("run <sweep>")
      .description(
        "train a sweep's members until none is left (a sweep id, a file or a template), N at a time, with progress and ETA",
      )
      .option(
        "--concurrency <N>",
        "members trained at once (default: one per GPU, or the CPU budget; see docs/sweeps.md)",
      )
      .option("--threads <T>", "wasm threads per member")
      .option("--home <dir>", HOME_HELP)
      .option("--json", "print a JSON summary at the end (members, completed, failed)"),
  ).action(
    async (target: string, opts: Shrink & Common & { concurrency?: string; threads?: string }) => {
      const home = resolveHome(opts.home);
      let id: string;
      if (existsSync(target) || findSweepTemplate(target) || opts.template !== undefined) {
        const spec = loadSpec(opts.template !== undefined ? undefined : target, {
          ...opts,
          template: opts.template ?? (existsSync(target) ? undefined : target),
        });
        const made = await withService(
          opts,
          (s) => s.call("sweeps.create", { spec }),
          startTraining,
        );
        id = made.id;
        if (!opts.json) io.out(`sweep ${id}: ${made.members} members\n`);
      } else {
        id = (await withService(opts, (s) => s.call("sweeps.get", { id: target }))).id;
      }
      const requested = optional(wholeNumber("--concurrency", 1), opts.concurrency);
      const threads = optional(wholeNumber("--threads", 1), opts.threads);
      const first = await withService(opts, (s) => s.call("sweeps.get", { id }));
      const backend =
        typeof first.spec.base.backend === "string" ? first.spec.base.backend : undefined;
      const envThreads = Number(process.env[WASM_THREADS_ENV]);
      const { cpuTopology } = await import("../../core/engine/wasm-threads.js");
      const choice = chooseConcurrency({
        requested,
        backend,
        cores: cpuTopology().physical,
        threads: threads ?? (Number.isInteger(envThreads) && envThreads > 0 ? envThreads : null),
        gpus: backend === "cpu" || backend === "wasm" ? 0 : gpuCount(),
      });
      const perRun = threads ?? choice.threadsPerRun;
      if (!opts.json) io.out(`${choice.concurrency} at once: ${choice.why}\n`);

      let service: Service;
      try {
        service = new Service({
          home,
          runs: runMethods({
            home,
            launch: startTraining,
            trusted: true,
            concurrency: choice.concurrency,
            claimFilter: { sweepId: id },
            // Claims wait for the requeue below (members a killed host left behind).
            autoStart: true,
          }),
        });
      } catch (err) {
        throw cliError(err);
      }
      // After the service applied the wasmThreads setting: the per-member budget wins; workers inherit it.
      if (perRun !== null && perRun !== undefined) process.env[WASM_THREADS_ENV] = String(perRun);
      let stopping = false;
      const onSignal = () => {
        stopping = true;
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const t0 = Date.now();
      let startEpochs: number | null = null;
      let last = "";
      let reported = new Map<string, string>();
      let summary: SweepDetails;
      try {
        // Members stopped by an earlier `sweep run`'s Ctrl-C continue (never those the user cancelled).
        await service.call("sweeps.rerun", { id, statuses: ["stopped"] });
        for (;;) {
          await service.call("sweeps.rerun", {
            id,
            statuses: ["interrupted"],
            maxAttempts: MAX_ATTEMPTS,
          });
          summary = await service.call("sweeps.get", { id });
          startEpochs ??= summary.epochsDone;
          const elapsed = (Date.now() - t0) / 1000;
          const rate = (summary.epochsDone - startEpochs) / elapsed;
          const eta =
            rate > 0 ? (summary.epochsPlanned - summary.epochsDone) / rate : summary.etaSeconds;
          if (!opts.json) {
            if (isTty) io.out(`\r${progressLine(summary, eta)}\x1b[K`);
            else {
              const line = progressLine(summary, eta);
              if (line.replace(/ETA .*/, "") !== last.replace(/ETA .*/, "")) io.out(`${line}\n`);
              last = line;
            }
            const next = new Map(summary.members.map((m) => [m.runId, m.status]));
            for (const m of summary.members)
              if (reported.get(m.runId) !== m.status && ["completed", "failed"].includes(m.status))
                io.out(
                  `${isTty ? "\r\x1b[K" : ""}${m.status}: ${memberLabel(m.values)} (${m.runId}) test acc ${pct(m.finalTestAccuracy)}${m.error ? `: ${m.error}` : ""}\n`,
                );
            reported = next;
          }
          const manager = service.runManager();
          const mine = summary.members.filter((m) => manager?.trains(m.runId));
          const retryable = summary.members.filter(
            (m) => m.status === "interrupted" && m.attempt < MAX_ATTEMPTS,
          );
          const pending =
            summary.counts.queued +
            summary.counts.running +
            summary.counts.paused +
            retryable.length;
          // Members the user cancelled from another process while this one trains them.
          for (const m of mine) if (m.cancelled) manager?.stop(m.runId);
          if (summary.state === "cancelled" || stopping) {
            for (const m of mine) manager?.stop(m.runId);
            if (mine.length === 0) break;
          } else if (summary.state === "paused" && mine.length === 0) break;
          else if (pending === 0) break;
          await new Promise((r) => setTimeout(r, isTty ? 500 : 1000));
        }
      } catch (err) {
        await service.close();
        throw cliError(err);
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
      await service.close();
      const final = await withService(opts, (s) => s.call("sweeps.get", { id }));
      const c = final.counts;
      if (opts.json)
        io.out(
          `${JSON.stringify({ sweep: id, state: final.state, finished: final.finished, members: c.total, completed: c.completed, failed: c.failed, interrupted: c.interrupted, stopped: c.stopped, queued: c.queued, seconds: (Date.now() - t0) / 1000 })}\n`,
        );
      else
        io.out(
          `${isTty ? "\r\x1b[K" : ""}sweep ${id}: ${c.completed}/${c.total} completed${c.failed ? `, ${c.failed} failed` : ""}${c.stopped ? `, ${c.stopped} stopped` : ""}${c.interrupted ? `, ${c.interrupted} interrupted` : ""} in ${formatDuration((Date.now() - t0) / 1000)}${final.state === "paused" ? " (paused: sgd-studio sweep resume, then sweep run)" : ""}${stopping ? " (stopped: sweep run continues it)" : ""}\n`,
        );
      if (stopping) throw new CliError("stopped", 130);
      if (c.failed > 0)
        throw new CliError(
          `${c.failed} member${c.failed === 1 ? "" : "s"} failed: sgd-studio sweep status ${id}`,
          1,
        );
    },
  );

  sweep
    .command("status <sweep>")
    .description("a sweep's progress and members: status, axis values, delta, final accuracy")
    .option("--home <dir>", HOME_HELP)
    .option("--json", "JSON")
    .action(async (target: string, opts: Common) => {
      const s = await withService(opts, (svc) => svc.call("sweeps.get", { id: target }));
      io.out(opts.json ? `${JSON.stringify(s, null, 1)}\n` : statusText(s));
    });

  sweep
    .command("list")
    .description("every sweep in the library")
    .option("--home <dir>", HOME_HELP)
    .option("--json", "JSON")
    .action(async (opts: Common) => {
      const list = await withService(opts, (svc) => svc.call("sweeps.list", {}));
      if (opts.json) io.out(`${JSON.stringify(list, null, 1)}\n`);
      else
        io.out(
          `${table(
            ["id", "name", "state", "members", "done", "failed", "axes"],
            list.map((s) => [
              s.id,
              s.name ?? "-",
              s.finished ? "finished" : s.state,
              s.counts.total,
              s.counts.completed,
              s.counts.failed,
              s.axes.join(","),
            ]),
          )}\n`,
        );
    });

  const simple = (
    name: "pause" | "resume" | "cancel",
    description: string,
    text: (r: Result<`sweeps.${typeof name}`>) => string,
  ) =>
    sweep
      .command(`${name} <sweep>`)
      .description(description)
      .option("--home <dir>", HOME_HELP)
      .option("--json", "JSON")
      .action(async (target: string, opts: Common) => {
        const r = await withService(opts, async (svc) => {
          const id = (await svc.call("sweeps.get", { id: target })).id;
          return { id, result: await svc.call(`sweeps.${name}`, { id }) };
        });
        io.out(opts.json ? `${JSON.stringify(r.result)}\n` : `sweep ${r.id}: ${text(r.result)}\n`);
      });
  simple("pause", "hold a sweep: no new member starts (those training finish)", () => "paused");
  simple(
    "resume",
    "let a paused sweep's members start again",
    () => "resumed (sgd-studio sweep run trains them)",
  );
  simple(
    "cancel",
    "cancel a sweep: waiting members stop, training ones stop where they train",
    (r) => {
      const x = r as Result<"sweeps.cancel">;
      return `cancelled; ${x.stopped.length} members stopped${x.elsewhere.length ? `, ${x.elsewhere.length} training in another process stop there` : ""}`;
    },
  );

  for (const name of ["rerun", "retry"]) {
    sweep
      .command(`${name} <sweep>`)
      .description(
        name === "rerun"
          ? "queue a sweep's failed and interrupted members again, in the same sweep (--stopped: stopped ones too)"
          : "the same as rerun",
      )
      .option("--failed", "failed members")
      .option("--interrupted", "interrupted members")
      .option("--stopped", "stopped members, cancelled ones included")
      .option("--home <dir>", HOME_HELP)
      .option("--json", "JSON")
      .action(
        async (
          target: string,
          opts: Common & { failed?: boolean; interrupted?: boolean; stopped?: boolean },
        ) => {
          const statuses = (["failed", "interrupted", "stopped"] as const).filter((s) => opts[s]);
          const r = await withService(opts, async (svc) => {
            const id = (await svc.call("sweeps.get", { id: target })).id;
            return {
              id,
              result: await svc.call("sweeps.rerun", {
                id,
                ...(statuses.length ? { statuses } : {}),
                includeCancelled: opts.stopped === true,
              }),
            };
          });
          io.out(
            opts.json
              ? `${JSON.stringify(r.result)}\n`
              : `sweep ${r.id}: ${r.result.requeued.length} members queued again; train them with: sgd-studio sweep run ${r.id}\n`,
          );
        },
      );
  }

  sweep
    .command("extend <sweep>")
    .description(
      "add values to a sweep's axes (or seeds, or random draws): only new points become runs",
    )
    .option(
      "--axis <name=v1,v2>",
      "values to add to an axis (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--seeds <N|list>", "seeds to add")
    .option("--count <N>", "a random sweep's new number of draws")
    .option("--home <dir>", HOME_HELP)
    .option("--json", "JSON")
    .action(
      async (target: string, opts: Common & { axis: string[]; seeds?: string; count?: string }) => {
        const axes = parseAxes(opts.axis);
        const r = await withService(opts, async (svc) => {
          const id = (await svc.call("sweeps.get", { id: target })).id;
          return {
            id,
            result: await svc.call("sweeps.extend", {
              id,
              axes,
              ...(opts.seeds !== undefined ? { seeds: parseSeeds(opts.seeds) } : {}),
              ...(opts.count !== undefined ? { count: wholeNumber("--count", 1)(opts.count) } : {}),
            }),
          };
        });
        io.out(
          opts.json
            ? `${JSON.stringify(r.result)}\n`
            : `sweep ${r.id}: ${r.result.added.length} new members (${r.result.members} in all)\n`,
        );
      },
    );

  sweep
    .command("cancel-member <sweep> <run>")
    .description("stop one member (waiting, or training in this process); reruns leave it alone")
    .option("--home <dir>", HOME_HELP)
    .action(async (target: string, run: string, opts: Common) => {
      await withService(opts, async (svc) => {
        const s = await svc.call("sweeps.get", { id: target });
        const m = s.members.find((x) => x.runId === run || x.runId.includes(run));
        if (!m) throw new CliError(`sweep ${s.id} has no member ${run}`, 2);
        await svc.call("sweeps.cancelMember", { id: s.id, runId: m.runId });
        io.out(`sweep ${s.id}: member ${m.runId} cancelled\n`);
      });
    });
}
