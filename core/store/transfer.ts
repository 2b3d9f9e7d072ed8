/**
 * Portable files: export runs as one JSON document (spec, environment,
 * status, summary, tags, note and every metric, columnar per key), or every
 * scalar as CSV (one row per value); import a JSON document back.
 *
 * Import checks the whole file before writing anything (valid JSON, the
 * format name, a version this build reads, every field), refuses runs already
 * in the library unless told to skip, replace or copy them, and writes only
 * rows in the library's database: checkpoints are not exported, so imported
 * runs have none, and no path from the file is ever used (run ids are
 * checked to be plain names; a spec's checkpointDir is dropped).
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { TrainSpecSchema } from "../engine/events.js";
import { appVersion } from "./environment.js";
import { StoreError } from "./errors.js";
import { RUN_ID_PATTERN, runDir } from "./paths.js";
import { nowIso } from "./schema.js";
import { appendRows, ROW_WIDTH, SeriesReader } from "./series.js";
import { RUN_STATUSES, type RunStatus } from "./states.js";
import { libraryInternals, newRunId, type RunRecord, type RunStore } from "./store.js";

export const EXPORT_FORMAT = "sgd-studio-runs";
export const EXPORT_VERSION = 1;

export type ExportFormat = "json" | "csv";

const MetricColumnsSchema = z
  .strictObject({
    step: z.array(z.number().int().nonnegative()),
    epoch: z.array(z.number().int().nonnegative()),
    epochsDone: z.array(z.number()),
    samples: z.array(z.number().int().nonnegative()),
    wallTime: z.array(z.number()),
    value: z.array(z.number().nullable()),
  })
  .refine(
    (c) =>
      [c.epoch, c.epochsDone, c.samples, c.wallTime, c.value].every(
        (a) => a.length === c.step.length,
      ),
    { error: "step, epoch, epochsDone, samples, wallTime and value must have the same length" },
  )
  .refine((c) => new Set(c.step).size === c.step.length, { error: "steps must not repeat" });

const nullableNumber = z.number().nullable();
const isoTime = z.iso.datetime({ offset: true });

const ExportedRunSchema = z.object({
  id: z
    .string()
    .regex(RUN_ID_PATTERN, { error: "a run id is letters, digits, '-' and '_' (at most 64)" }),
  status: z.enum(RUN_STATUSES),
  spec: z.record(z.string(), z.unknown()),
  environment: z.record(z.string(), z.unknown()),
  error: z
    .object({
      code: z.string(),
      message: z.string(),
      step: nullableNumber,
      epoch: nullableNumber,
    })
    .nullable(),
  createdAt: isoTime,
  startedAt: isoTime.nullable(),
  finishedAt: isoTime.nullable(),
  updatedAt: isoTime,
  plannedEpochs: nullableNumber,
  plannedSteps: nullableNumber,
  lastEpoch: nullableNumber,
  lastStep: nullableNumber,
  samples: nullableNumber,
  wallTime: nullableNumber,
  final: z.object({
    trainLoss: nullableNumber,
    trainAccuracy: nullableNumber,
    testLoss: nullableNumber,
    testAccuracy: nullableNumber,
  }),
  best: z.object({ testAccuracy: nullableNumber, epoch: nullableNumber }),
  tags: z.array(z.string().min(1).max(64)),
  note: z.string().nullable(),
  checkpoints: z.array(
    z.object({ epoch: z.number(), step: nullableNumber, createdAt: z.string() }),
  ),
  metrics: z.record(z.string().min(1).max(100), MetricColumnsSchema),
});

const ExportDocumentSchema = z.strictObject({
  format: z.literal(EXPORT_FORMAT),
  version: z.literal(EXPORT_VERSION),
  exportedAt: isoTime,
  exportedBy: z.string(),
  runs: z.array(ExportedRunSchema),
});

export type ExportedRun = z.infer<typeof ExportedRunSchema>;
export type ExportDocument = z.infer<typeof ExportDocumentSchema>;

export interface ImportOptions {
  /**
   * A run whose id is already in the library: refuse the whole import
   * (default), skip it, replace the library's run, or import it under a new id.
   */
  duplicates?: "refuse" | "skip" | "replace" | "copy";
}

export interface ImportResult {
  /** Imported runs: their id in the library, and the id in the file. */
  imported: { id: string; from: string }[];
  skipped: string[];
  replaced: string[];
}

/** The keys a run recorded, by name (in SQLite's order, as the export always listed them). */
function runKeys(store: RunStore, pk: number): { id: number; name: string }[] {
  return libraryInternals(store)
    .db.prepare(
      `SELECT k.id, k.name FROM metric_keys k
       WHERE k.id IN (SELECT key_id FROM metric_summaries WHERE run_pk = ?) ORDER BY k.name`,
    )
    .all(pk) as { id: number; name: string }[];
}

function exportedRun(store: RunStore, run: RunRecord): ExportedRun {
  const pk = libraryInternals(store).pk(run.id);
  const reader = new SeriesReader(libraryInternals(store).db, pk);
  const metrics: ExportedRun["metrics"] = {};
  for (const key of runKeys(store, pk)) {
    const c = reader.all(key.id);
    metrics[key.name] = {
      step: Array.from(c.steps),
      epoch: Array.from(c.epochs),
      epochsDone: Array.from(c.epochsDone),
      samples: Array.from(c.samples),
      wallTime: Array.from(c.wallTimes),
      value: Array.from(c.values, (v) => (Number.isFinite(v) ? v : null)),
    };
  }
  const { checkpointDir: _dir, scheduleName: _s, model: _m, dataset: _d, ...rest } = run;
  const { optimizer: _o, seed: _seed, backend: _b, summary: _summary, ...kept } = rest;
  return {
    ...kept,
    spec: run.spec as Record<string, unknown>,
    checkpoints: store
      .checkpoints(run.id)
      .map((c) => ({ epoch: c.epoch, step: c.step, createdAt: c.createdAt })),
    metrics,
  };
}

export function exportDocument(store: RunStore, ids: string[]): ExportDocument {
  const runs = libraryInternals(store).db.transaction(() =>
    ids.map((id) => exportedRun(store, store.getRun(id))),
  )();
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: nowIso(),
    exportedBy: `sgd-studio ${appVersion() ?? ""}`.trim(),
    runs,
  };
}

export const CSV_HEADER = "run_id,key,step,epoch,epochs_done,samples,wall_time,value";

/** Every scalar of the runs as CSV text, in chunks (header first). */
export function* csvChunks(store: RunStore, ids: string[]): Generator<string> {
  yield `${CSV_HEADER}\n`;
  const quote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  for (const id of ids) {
    const pk = libraryInternals(store).pk(id);
    const reader = new SeriesReader(libraryInternals(store).db, pk);
    let chunk = "";
    for (const key of runKeys(store, pk)) {
      const name = quote(key.name);
      const c = reader.all(key.id);
      for (let i = 0; i < c.steps.length; i++) {
        const v = c.values[i] as number;
        chunk += `${id},${name},${c.steps[i]},${c.epochs[i]},${c.epochsDone[i]},${c.samples[i]},${c.wallTimes[i]},${Number.isFinite(v) ? v : ""}\n`;
        if (chunk.length > 1 << 20) {
          yield chunk;
          chunk = "";
        }
      }
    }
    if (chunk) yield chunk;
  }
}

/**
 * Writes a file through a temporary file beside it, renamed into place, so a
 * failed or interrupted write never leaves a half-written `out`. An `out` that
 * cannot be opened is a StoreError("invalid") naming it; a failure while
 * writing removes the temporary file and is rethrown.
 */
export function writeFileAtomically(out: string, write: (fd: number) => void): void {
  const tmp = join(dirname(out), `.${Date.now()}-${process.pid}.export.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StoreError(
      "invalid",
      `cannot write ${out}: ${e.code === "ENOENT" ? `no folder ${dirname(out)}` : e.message}`,
    );
  }
  try {
    write(fd);
    closeSync(fd);
    renameSync(tmp, out);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {}
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes an export to `out` through a temporary file renamed into place. */
export function exportToFile(
  store: RunStore,
  ids: string[],
  format: ExportFormat,
  out: string,
): { runs: number; rows: number } {
  let rows = 0;
  writeFileAtomically(out, (fd) => {
    if (format === "json") {
      const doc = exportDocument(store, ids);
      for (const r of doc.runs) for (const m of Object.values(r.metrics)) rows += m.step.length;
      writeSync(fd, JSON.stringify(doc));
    } else {
      libraryInternals(store).db.transaction(() => {
        for (const chunk of csvChunks(store, ids)) {
          writeSync(fd, chunk);
          rows += countLines(chunk);
        }
      })();
      rows -= 1;
    }
  });
  return { runs: ids.length, rows };
}

/** Lines in a text (newline characters). */
export function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf("\n"); i !== -1; i = s.indexOf("\n", i + 1)) n++;
  return n;
}

/** Checks a document (text or parsed JSON) and returns it, or throws StoreError("import"). */
export function parseExport(input: string | unknown): ExportDocument {
  let data: unknown = input;
  if (typeof input === "string") {
    try {
      data = JSON.parse(input);
    } catch (err) {
      throw new StoreError(
        "import",
        `the file is not valid JSON (${(err as Error).message}); it may be truncated or damaged`,
      );
    }
  }
  if (typeof data !== "object" || data === null || Array.isArray(data))
    throw new StoreError("import", "the file is not an SGD Studio runs export (not a JSON object)");
  const head = data as { format?: unknown; version?: unknown };
  if (head.format !== EXPORT_FORMAT) {
    throw new StoreError(
      "import",
      `the file is not an SGD Studio runs export (format is ${JSON.stringify(head.format)}, expected "${EXPORT_FORMAT}")`,
    );
  }
  if (head.version !== EXPORT_VERSION) {
    const v = head.version;
    throw new StoreError(
      "import",
      typeof v === "number" && v > EXPORT_VERSION
        ? `the file has export version ${v}, newer than this build reads (${EXPORT_VERSION}): update SGD Studio`
        : `the file has export version ${JSON.stringify(v)}; this build reads version ${EXPORT_VERSION}`,
    );
  }
  const parsed = ExportDocumentSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => {
      const path = i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
      return `${path.replace(/^\./, "") || "(root)"}: ${i.message}`;
    });
    const more =
      parsed.error.issues.length > 3 ? ` (and ${parsed.error.issues.length - 3} more)` : "";
    throw new StoreError(
      "import",
      `the file is not a valid runs export: ${issues.join("; ")}${more}`,
    );
  }
  const doc = parsed.data;
  const seen = new Set<string>();
  for (const [i, run] of doc.runs.entries()) {
    if (seen.has(run.id))
      throw new StoreError("import", `runs[${i}].id: run ${run.id} appears twice in the file`);
    seen.add(run.id);
    const { checkpointDir: _ignored, ...spec } = run.spec;
    const check = TrainSpecSchema.safeParse(spec);
    if (!check.success) {
      const issue = check.error.issues[0];
      throw new StoreError(
        "import",
        `runs[${i}].spec.${issue?.path.join(".")}: ${issue?.message} (not a training spec this build reads)`,
      );
    }
    const { checkpointDir: _dropped, ...validated } = check.data;
    run.spec = validated;
  }
  return doc;
}

export function importDocument(
  store: RunStore,
  input: string | unknown,
  options: ImportOptions = {},
): ImportResult {
  const doc = parseExport(input);
  const mode = options.duplicates ?? "refuse";
  const db = libraryInternals(store).db;
  const result: ImportResult = { imported: [], skipped: [], replaced: [] };
  const exists = (id: string) =>
    db.prepare("SELECT status FROM runs WHERE id = ?").get(id) as { status: RunStatus } | undefined;
  const dupes = doc.runs.filter((r) => exists(r.id));
  if (mode === "refuse" && dupes.length > 0) {
    throw new StoreError(
      "duplicate",
      `already in the library: ${dupes.map((r) => r.id).join(", ")}; import with duplicates "skip", "replace" or "copy" (CLI: --skip, --replace, --copy)`,
    );
  }
  if (mode === "replace") {
    const busy = dupes.filter((r) => ["running", "paused"].includes(exists(r.id)?.status ?? ""));
    if (busy.length > 0)
      throw new StoreError(
        "duplicate",
        `cannot replace runs that are training: ${busy.map((r) => r.id).join(", ")}`,
      );
  }
  const insertRun = db.prepare(
    `INSERT INTO runs (id, status, spec_json, schedule_json, schedule_name, model, dataset, optimizer, seed,
       backend, environment_json, error_code, error_message, error_step, error_epoch, created_at,
       started_at, finished_at, updated_at, planned_epochs, planned_steps, last_epoch, last_step,
       samples, wall_time, final_train_loss, final_train_accuracy, final_test_loss,
       final_test_accuracy, best_test_accuracy, best_epoch, checkpoint_dir)
     VALUES (@id, @status, @spec, @schedule, @scheduleName, @model, @dataset, @optimizer, @seed,
       @backend, @env, @errorCode, @errorMessage, @errorStep, @errorEpoch, @createdAt,
       @startedAt, @finishedAt, @updatedAt, @plannedEpochs, @plannedSteps, @lastEpoch, @lastStep,
       @samples, @wallTime, @trainLoss, @trainAccuracy, @testLoss, @testAccuracy, @best,
       @bestEpoch, NULL)`,
  );
  const insertTag = db.prepare(
    "INSERT OR IGNORE INTO tags (run_pk, tag, created_at) VALUES (?, ?, ?)",
  );
  const insertNote = db.prepare("INSERT INTO notes (run_pk, body, updated_at) VALUES (?, ?, ?)");
  // Key ids are cached by the store: create them outside the transaction so a rollback cannot strand them.
  for (const run of doc.runs)
    for (const key of Object.keys(run.metrics)) libraryInternals(store).keyId(key);
  db.transaction(() => {
    for (const run of doc.runs) {
      let id = run.id;
      if (exists(id)) {
        if (mode === "skip") {
          result.skipped.push(id);
          continue;
        }
        if (mode === "replace") {
          db.prepare("DELETE FROM runs WHERE id = ?").run(id);
          result.replaced.push(id);
        } else {
          while (exists(id)) id = newRunId();
        }
      }
      const spec = run.spec as { schedule?: { name?: unknown }; optimizer?: { kind?: string } };
      // An imported run never starts training by itself: one that was queued or training in
      // the other library arrives interrupted (without its checkpoints: a resume starts it over).
      const status: RunStatus = ["queued", "running", "paused"].includes(run.status)
        ? "interrupted"
        : run.status;
      const imported =
        status !== run.status
          ? {
              code: "imported",
              message: `imported while ${run.status} in another library; its checkpoints stay there, so resuming starts it from the beginning`,
            }
          : null;
      const info = insertRun.run({
        id,
        status,
        spec: JSON.stringify(run.spec),
        schedule: spec.schedule === undefined ? null : JSON.stringify(spec.schedule),
        scheduleName: typeof spec.schedule?.name === "string" ? spec.schedule.name : null,
        model: String(run.spec.model),
        dataset: String(run.spec.dataset),
        optimizer: spec.optimizer?.kind ?? "sgd",
        seed: Number(run.spec.seed ?? 0),
        backend:
          typeof run.environment.backend === "string"
            ? run.environment.backend
            : typeof run.spec.backend === "string"
              ? run.spec.backend
              : null,
        env: JSON.stringify(run.environment),
        errorCode: imported?.code ?? run.error?.code ?? null,
        errorMessage: imported?.message ?? run.error?.message ?? null,
        errorStep: run.error?.step ?? null,
        errorEpoch: run.error?.epoch ?? null,
        createdAt: run.createdAt,
        startedAt: run.startedAt,
        finishedAt: run.finishedAt ?? (status === "interrupted" ? nowIso() : null),
        updatedAt: run.updatedAt,
        plannedEpochs: run.plannedEpochs,
        plannedSteps: run.plannedSteps,
        lastEpoch: run.lastEpoch,
        lastStep: run.lastStep,
        samples: run.samples,
        wallTime: run.wallTime,
        trainLoss: run.final.trainLoss,
        trainAccuracy: run.final.trainAccuracy,
        testLoss: run.final.testLoss,
        testAccuracy: run.final.testAccuracy,
        best: run.best.testAccuracy,
        bestEpoch: run.best.epoch,
      });
      const pk = Number(info.lastInsertRowid);
      // Keys with the most values first: their steps become the run's axis (series.ts).
      const keys = Object.entries(run.metrics).sort((a, b) => b[1].step.length - a[1].step.length);
      for (const [key, m] of keys) {
        const keyId = libraryInternals(store).keyId(key);
        const n = m.step.length;
        const rows = new Float64Array(n * ROW_WIDTH);
        for (let i = 0; i < n; i++) {
          const o = i * ROW_WIDTH;
          rows[o] = keyId;
          rows[o + 1] = m.step[i] as number;
          rows[o + 2] = m.epoch[i] as number;
          rows[o + 3] = m.epochsDone[i] as number;
          rows[o + 4] = m.samples[i] as number;
          rows[o + 5] = m.wallTime[i] as number;
          rows[o + 6] = m.value[i] ?? Number.NaN;
        }
        appendRows(db, pk, rows, n);
      }
      const at = nowIso();
      for (const tag of run.tags) insertTag.run(pk, tag, at);
      if (run.note) insertNote.run(pk, run.note, at);
      result.imported.push({ id, from: run.id });
    }
  }).immediate();
  // The replaced runs' checkpoint files (inside the library only) are now orphans.
  for (const id of result.replaced)
    rmSync(runDir(store.paths, id), { recursive: true, force: true });
  return result;
}
