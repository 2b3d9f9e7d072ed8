/**
 * Training speed measured by earlier runs on this machine (the run library),
 * to estimate how long a schedule takes: images per second = samples seen /
 * wall time, pooled over the completed runs of each model and dataset.
 */
import type { RunSummary } from "../../../core/api/records";

export interface Throughput {
  /** "mlp · default" */
  key: string;
  model: string;
  dataset: string;
  runs: number;
  imagesPerSecond: number;
  /** When the newest of those runs finished (ISO), for ordering. */
  latest: string;
}

const num = (x: unknown): number => (typeof x === "number" && Number.isFinite(x) ? x : 0);
const str = (x: unknown, fallback: string): string => (typeof x === "string" && x ? x : fallback);

/** What the estimate reads of a run (`runs.list` gives more). */
export type ThroughputRun = Pick<
  RunSummary,
  "status" | "samples" | "wallTime" | "model" | "dataset" | "finishedAt" | "updatedAt"
>;

/** One entry per model and dataset with completed runs, the most recent first. */
export function throughputFromRuns(runs: readonly ThroughputRun[]): Throughput[] {
  const groups = new Map<string, Throughput & { samples: number; seconds: number }>();
  for (const r of runs) {
    if (r.status !== "completed") continue;
    const samples = num(r.samples);
    const seconds = num(r.wallTime);
    if (samples <= 0 || seconds <= 0) continue;
    const model = str(r.model, "?");
    const dataset = str(r.dataset, "?");
    const key = `${model} · ${dataset}`;
    const when = str(r.finishedAt, str(r.updatedAt, ""));
    const g = groups.get(key) ?? {
      key,
      model,
      dataset,
      runs: 0,
      imagesPerSecond: 0,
      latest: "",
      samples: 0,
      seconds: 0,
    };
    g.runs++;
    g.samples += samples;
    g.seconds += seconds;
    if (when > g.latest) g.latest = when;
    groups.set(key, g);
  }
  return [...groups.values()]
    .map(({ samples, seconds, ...t }) => ({ ...t, imagesPerSecond: samples / seconds }))
    .sort((a, b) => (a.latest < b.latest ? 1 : a.latest > b.latest ? -1 : 0));
}

/** Seconds to process `samples` at a throughput, or null without one. */
export function estimateSeconds(samples: number, t: Throughput | null | undefined): number | null {
  if (!t || !(t.imagesPerSecond > 0) || !(samples >= 0)) return null;
  return samples / t.imagesPerSecond;
}
