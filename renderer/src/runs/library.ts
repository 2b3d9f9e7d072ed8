/**
 * The run library table: its columns, sorting, filtering and search. Plain
 * functions over the run summaries `runs.list` returns.
 */
import { RUN_STATUSES } from "../../../core/api/lists";
import { finalSharpness } from "./sharpness";
import type { Run } from "./types";

export type SortDir = "asc" | "desc";

export interface Column {
  id: string;
  label: string;
  /** The value sorted on (numbers sort numerically; null last whatever the direction). */
  value(run: Run): string | number | null;
  numeric?: boolean;
}

/** Seconds of training recorded; else the time from start to finish (or to now while it trains). */
export function runDuration(run: Run, now = Date.now()): number | null {
  if (run.wallTime !== null && run.wallTime !== undefined && run.wallTime > 0) return run.wallTime;
  if (!run.startedAt) return null;
  const end = run.finishedAt ? Date.parse(run.finishedAt) : now;
  const s = (end - Date.parse(run.startedAt)) / 1000;
  return Number.isFinite(s) && s >= 0 ? s : null;
}

/** Epochs with an end-of-epoch record (the last epoch is 0-based in the library). */
export function epochsDone(run: Pick<Run, "lastEpoch">): number {
  return run.lastEpoch === null || run.lastEpoch === undefined ? 0 : run.lastEpoch + 1;
}

/** "3/5 · 1,170 steps": epochs done of planned, and steps trained, as the Run view counts them. */
export function progressText(
  run: Pick<Run, "lastEpoch" | "plannedEpochs" | "lastStep" | "spec">,
): string {
  const planned = run.plannedEpochs ?? run.spec.epochs ?? null;
  const steps = run.lastStep === null || run.lastStep === undefined ? 0 : run.lastStep + 1;
  return `${epochsDone(run)}${planned === null ? "" : `/${planned}`} · ${steps.toLocaleString("en-US")} steps`;
}

export const COLUMNS: readonly Column[] = [
  { id: "status", label: "Status", value: (r) => r.status },
  { id: "name", label: "Name", value: (r) => r.name ?? r.scheduleName ?? null },
  { id: "schedule", label: "Schedule", value: (r) => r.scheduleName ?? null },
  {
    id: "progress",
    label: "Epochs · steps",
    // Epochs done (counted from 1, as everywhere), then steps: sorts by epochs done.
    value: (r) => epochsDone(r),
    numeric: true,
  },
  { id: "dataset", label: "Dataset", value: (r) => r.dataset },
  { id: "model", label: "Model", value: (r) => r.model },
  { id: "optimizer", label: "Optimizer", value: (r) => r.optimizer },
  { id: "backend", label: "Backend", value: (r) => r.backend ?? null },
  { id: "seed", label: "Seed", value: (r) => r.seed, numeric: true },
  {
    id: "finalAcc",
    label: "Final test acc",
    value: (r) => r.final?.testAccuracy ?? null,
    numeric: true,
  },
  {
    id: "bestAcc",
    label: "Best test acc",
    value: (r) => r.best?.testAccuracy ?? null,
    numeric: true,
  },
  {
    // From the run's summary (the library's run_metrics): no metric values are read for it.
    id: "finalLoss",
    label: "Final loss",
    value: (r) => r.summary?.loss?.final ?? null,
    numeric: true,
  },
  {
    id: "sharpness",
    label: "Sharpness",
    value: (r) => finalSharpness(r, "sharpness")?.value ?? null,
    numeric: true,
  },
  { id: "duration", label: "Duration", value: (r) => runDuration(r), numeric: true },
  { id: "created", label: "Created", value: (r) => r.createdAt },
  { id: "tags", label: "Tags", value: (r) => r.tags.join(", ") || null },
];

export function compareValues(
  a: string | number | null,
  b: string | number | null,
  dir: SortDir,
): number {
  if (a === b) return 0;
  if (a === null || (typeof a === "number" && Number.isNaN(a))) return 1;
  if (b === null || (typeof b === "number" && Number.isNaN(b))) return -1;
  const c =
    typeof a === "number" && typeof b === "number"
      ? a - b
      : String(a).localeCompare(String(b), undefined, { numeric: true });
  return dir === "asc" ? c : -c;
}

/** A sorted copy; ties keep the given order (newest first from the library). */
export function sortRuns(runs: Run[], columnId: string, dir: SortDir): Run[] {
  const col = COLUMNS.find((c) => c.id === columnId);
  if (!col) return [...runs];
  return runs
    .map((run, i) => ({ run, i, v: col.value(run) }))
    .sort((a, b) => compareValues(a.v, b.v, dir) || a.i - b.i)
    .map((x) => x.run);
}

/** Every word of the query must appear in one of the run's fields (case-insensitive). */
export function matchesSearch(run: Run, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = [
    run.id,
    run.name,
    run.scheduleName,
    run.status,
    run.model,
    run.dataset,
    run.optimizer,
    run.backend,
    `seed ${run.seed}`,
    run.note,
    ...run.tags,
  ]
    .filter((x): x is string => typeof x === "string")
    .join("\n")
    .toLowerCase();
  return words.every((w) => hay.includes(w));
}

export interface RunFilter {
  /** Statuses to keep; empty or absent: all. */
  status?: string[];
  tag?: string;
  search?: string;
}

export function filterRuns(runs: Run[], f: RunFilter): Run[] {
  return runs.filter(
    (r) =>
      (!f.status?.length || f.status.includes(r.status)) &&
      (!f.tag || r.tags.includes(f.tag)) &&
      matchesSearch(r, f.search ?? ""),
  );
}

/** Every tag in use, sorted. */
export function allTags(runs: Run[]): string[] {
  return [...new Set(runs.flatMap((r) => r.tags))].sort();
}

/** Every run status, in lifecycle order (core/api/lists.ts). */
export const STATUSES = RUN_STATUSES;

export const ACTIVE_STATUSES: readonly string[] = ["queued", "running", "paused"];
