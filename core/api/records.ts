/**
 * The run library's records as the service returns them: a run, its
 * checkpoints, its metric keys and metric series. Plain types; the store
 * (core/store) produces them from SQLite and imports them from here.
 */
import type { RunStatus, XAxis } from "./lists.js";
import type { TrainSpec } from "./spec.js";

/**
 * What a run was trained on (core/store/environment.ts collects it): app and
 * Node versions, platform, CPU, memory; training adds the backend
 * (`backend`, `backendSummary`), the dataset and model details and the
 * numeric path.
 */
export type Environment = Record<string, unknown>;

export interface RunError {
  code: string;
  message: string;
  step: number | null;
  epoch: number | null;
}

/** A run in the library. */
export interface RunRecord {
  id: string;
  status: RunStatus;
  /** The training spec as validated (defaults filled in), without checkpointDir. */
  spec: Omit<TrainSpec, "checkpointDir">;
  scheduleName: string | null;
  model: string;
  dataset: string;
  optimizer: string;
  seed: number;
  /** Requested backend until training starts, then the one actually used. */
  backend: string | null;
  environment: Environment;
  error: RunError | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  plannedEpochs: number | null;
  plannedSteps: number | null;
  /** Last completed epoch (0-based) and last recorded step. */
  lastEpoch: number | null;
  lastStep: number | null;
  samples: number | null;
  wallTime: number | null;
  final: {
    trainLoss: number | null;
    trainAccuracy: number | null;
    testLoss: number | null;
    testAccuracy: number | null;
  };
  best: { testAccuracy: number | null; epoch: number | null };
  /** Absolute folder of the run's checkpoints, if it has one. */
  checkpointDir: string | null;
  /** Training attempts started so far (a resume is a new attempt). */
  attempt: number;
  /** The last epoch whose metrics and checkpoint are both in the library: a resume continues after it. */
  resumeEpoch: number | null;
  /** The host process that claimed the run while it is running or paused. */
  owner: { host: string; pid: number | null } | null;
  tags: string[];
  note: string | null;
  /**
   * Per metric key: how many values, the last one and the lowest and highest
   * (kept by the recorder in the library's run_metrics, so reading them never
   * reads the values). Not part of an export (the values are).
   */
  summary: Record<string, MetricSummary>;
  /** The sweep this run is a member of (its id, member key and axis values), or null. */
  sweep: SweepLink | null;
}

/** A key's values of one run in brief (see RunRecord.summary); null values when it has none. */
export interface MetricSummary {
  count: number;
  final: number | null;
  min: number | null;
  max: number | null;
  /** The step of the last value. */
  lastStep: number | null;
}

/** A run's place in a sweep (docs/sweeps.md). */
export interface SweepLink {
  id: string;
  /** Stable key of the member within the sweep (a hash of its axis values and seed). */
  member: string;
  values: Record<string, unknown>;
}

export interface CheckpointRecord {
  epoch: number;
  step: number | null;
  path: string;
  createdAt: string;
  exists: boolean;
}

/** A metric key a run has recorded, with how many points and over which steps. */
export interface MetricKeyInfo {
  key: string;
  count: number;
  firstStep: number;
  lastStep: number;
}

/** One run's series of one key against an x axis, downsampled (min/max per bucket kept). */
export interface MetricSeries {
  runId: string;
  key: string;
  x: XAxis;
  xs: number[];
  values: number[];
  /** The step of each point (to look points up, or join series with different x). */
  steps: number[];
  /** Points the library holds for this series in the range (NULL values not counted). */
  total: number;
  downsampled: boolean;
}

/** A run as `runs.list` returns it: the library record plus its display name. */
export interface RunSummary extends RunRecord {
  /** The display name: the one given with `runs.rename` (environment.displayName), else the schedule's name, if any. */
  name: string | null;
}

/** One recorded value of a key, with where in training it was reached. */
export interface MetricPoint {
  value: number;
  step: number;
  epoch: number;
  epochsDone: number;
  samples: number;
  wallTime: number;
}

/** A key's last value and its best (min or max), first reached where; count: non-null values. */
export interface BestAndFinal {
  runId: string;
  key: string;
  mode: "min" | "max";
  final: MetricPoint | null;
  best: MetricPoint | null;
  count: number;
}

/** A run as `runs.get` returns it: the summary, its checkpoints and the metric keys it recorded. */
export interface RunDetails extends RunSummary {
  checkpoints: CheckpointRecord[];
  keys: MetricKeyInfo[];
  /** The checkpoint a resume continues from (null: none on disk, a resume starts over). */
  resume: { path: string; epoch: number | null } | null;
  /** With `stats: true`: each key's best and final value, in the order of `keys`. */
  stats?: BestAndFinal[];
}
