/**
 * The one contract every host exposes (Electron IPC, the `serve` WebSocket,
 * the CLI in-process): method name -> runtime-validated params and a typed
 * result, plus the events the service emits. Declared once; the renderer
 * imports only the types.
 *
 * Part of core/api: no TensorFlow.js, no SQLite, nothing that runs
 * training (a test checks the import graph).
 */
import { z } from "zod";
import {
  type LandscapeExperiment,
  type LandscapeGrid,
  landscapeExperimentParams,
  landscapeGridParams,
} from "../landscape/params.js";
import type {
  CompileWarning,
  EpochRow,
  Preset,
  RunLength,
  ScheduleIssue,
} from "../schedule/index.js";
import type { DoctorJson } from "./doctor.js";
import type { TrainEvent } from "./events.js";
import { RUN_STATUSES, type RunStatus, X_AXES } from "./lists.js";
import type { MetricSeries, RunDetails, RunSummary } from "./records.js";
import { SharpnessSettingsSchema, type SharpnessValue } from "./sharpness.js";
import type { SweepDetails, SweepIssue, SweepSummary, SweepTemplate } from "./sweep.js";
import type { WorkersList } from "./workers.js";

const id = z.string().min(1, { error: "id must be a non-empty string" }).max(200);
const positiveInt = z.number().int().positive();

export const METHODS = {
  "schedules.validate": z.strictObject({ schedule: z.unknown() }),
  "schedules.preview": z.strictObject({
    schedule: z.unknown(),
    datasetSize: positiveInt.default(50_000),
    /** Noise level C; without it delta is relative to delta_0. */
    noise: z.number().positive().optional(),
    /** Most points per step series (min/max kept per bucket); default 2,000. */
    maxPoints: positiveInt.max(1_000_000).default(2_000),
    /** The run's length: a schedule relative to the run resolves to it (default: the document's epochs). */
    epochs: positiveInt.max(100_000).optional(),
    /** An epoch-time schedule of another length: "truncate" (default, with a warning) or "fit". */
    fit: z.enum(["truncate", "fit"]).optional(),
  }),
  "schedules.presets": z.strictObject({}),
  "schedules.export": z.strictObject({
    schedule: z.unknown(),
    to: z.literal("pytorch", { error: 'to must be "pytorch"' }),
    datasetSize: positiveInt.default(50_000),
    /** The run's length: a schedule relative to the run resolves to it (default: the document's epochs). */
    epochs: positiveInt.max(100_000).optional(),
    /** An epoch-time schedule of another length: "truncate" (default, with a warning) or "fit". */
    fit: z.enum(["truncate", "fit"]).optional(),
  }),
  "runs.start": z.strictObject({
    /** A TrainSpec (schedule may be a preset name). */
    spec: z.record(z.string(), z.unknown()),
    name: z.string().max(200).optional(),
    /** Train in this host now instead of queueing (the command line's `train`; refused elsewhere). */
    here: z.boolean().optional(),
  }),
  "runs.pause": z.strictObject({ id }),
  /** A paused run continues; a stopped, interrupted or failed one goes back in the queue (or, with here, trains now). */
  "runs.resume": z.strictObject({
    id,
    here: z.boolean().optional(),
    /**
     * Changes for the rest of the run: another backend (same trajectory up to
     * float rounding), or more or fewer epochs (the schedule is compiled for the
     * new length; a length that would change the schedule of epochs already
     * trained is refused without `keepSchedule`: docs/schedules.md).
     */
    override: z
      .strictObject({
        backend: z.string().min(1).max(40).optional(),
        epochs: z.number().int().positive().max(100_000).optional(),
        /**
         * With `epochs`: keep the schedule as trained, i.e. compiled for the
         * run's current length (epoch time), then cut or continued to the new
         * one. Required when the new length would change the schedule of
         * epochs already trained (one relative to the run, or fitted to it);
         * such a resume is refused without it.
         */
        keepSchedule: z.boolean().optional(),
      })
      .optional(),
  }),
  "runs.stop": z.strictObject({ id }),
  "runs.list": z.strictObject({
    status: z.array(z.enum(RUN_STATUSES)).optional(),
    tag: z.string().optional(),
    search: z.string().optional(),
  }),
  "runs.get": z.strictObject({
    id,
    /** Also each key's best and final value (`stats`; one scan of the run's metrics per key). */
    stats: z.boolean().optional(),
  }),
  "runs.metrics": z.strictObject({
    ids: z.array(id).min(1).max(100),
    keys: z.array(z.string().min(1)).min(1).max(50),
    x: z.enum(X_AXES).default("step"),
    maxPoints: positiveInt.max(100_000).default(2_000),
    /** Only points with from <= x <= to (a zoomed range, fetched at full detail). */
    from: z.number().optional(),
    to: z.number().optional(),
  }),
  /** The runs waiting to train, in the order they will (not the one training or starting). */
  "runs.queue": z.strictObject({}),
  /** Moves a waiting run to another place in the queue (0 = next to train; past the end = last). */
  "runs.queue.move": z.strictObject({ id, position: z.number().int().nonnegative() }),
  "runs.tag": z.strictObject({ id, tag: z.string().min(1).max(100) }),
  "runs.untag": z.strictObject({ id, tag: z.string().min(1).max(100) }),
  "runs.note": z.strictObject({ id, note: z.string().max(100_000) }),
  /** A run's display name (shown instead of the schedule's name everywhere, kept in exports); "" removes it. */
  "runs.rename": z.strictObject({ id, name: z.string().max(200) }),
  "runs.delete": z.strictObject({ id }),
  "runs.export": z.strictObject({
    ids: z.array(id).min(1),
    format: z.enum(["json", "csv"]).default("json"),
  }),
  "runs.import": z.strictObject({
    /** An export document (JSON text). */
    content: z.string().min(1),
    /** A run already in the library: refuse the import (default), skip it, replace it, or copy it under a new id. */
    duplicates: z.enum(["refuse", "skip", "replace", "copy"]).default("refuse"),
  }),
  /**
   * Sharpness of a finished run's model at its last checkpoint (docs/sharpness.md), measured in a
   * worker with progress as `run.event`s, recorded as the run's metrics; its status is unchanged.
   */
  "runs.sharpness": SharpnessSettingsSchema.extend({
    id,
    /** Measure on this backend instead of the run's. */
    backend: z.string().min(1).max(40).optional(),
  }),
  /** The built-in sweeps (core/sweep/templates.ts). */
  "sweeps.templates": z.strictObject({}),
  /** Checks a sweep document and counts its members (without C, a delta axis counts but makes no runs). */
  "sweeps.validate": z.strictObject({ spec: z.unknown() }),
  /**
   * Records a sweep and queues its members as ordinary runs (docs/sweeps.md).
   * With delta swept and no delta.noise, C is first estimated by a short run of the base spec.
   */
  "sweeps.create": z.strictObject({ spec: z.unknown(), name: z.string().max(200).optional() }),
  "sweeps.list": z.strictObject({}),
  "sweeps.get": z.strictObject({ id }),
  /** No new member starts (those training finish); resume lets them start again. */
  "sweeps.pause": z.strictObject({ id }),
  "sweeps.resume": z.strictObject({ id }),
  /** Waiting members are stopped, training ones stopped where this host trains them (docs/sweeps.md). */
  "sweeps.cancel": z.strictObject({ id }),
  /** Queues the sweep's failed and interrupted members again (or those of `statuses`), in the same sweep. */
  "sweeps.rerun": z.strictObject({
    id,
    statuses: z
      .array(z.enum(["failed", "interrupted", "stopped"]))
      .min(1)
      .optional(),
    /** Skip members that have started this many attempts already (a `sweep run` host's automatic retries). */
    maxAttempts: positiveInt.max(1000).optional(),
    /** Also members the user cancelled (stopped and tagged sweep-cancelled); default false. */
    includeCancelled: z.boolean().optional(),
  }),
  /** Adds values to the sweep's axes (or seeds, or random draws): only new grid points become runs. */
  "sweeps.extend": z.strictObject({
    id,
    axes: z.record(z.string(), z.array(z.unknown()).min(1)).default({}),
    seeds: z
      .union([z.array(z.number().int().nonnegative()).min(1), positiveInt.max(1000)])
      .optional(),
    count: positiveInt.max(10_000).optional(),
  }),
  /** Stops one member (waiting or training here); the sweep's reruns leave it alone. */
  "sweeps.cancelMember": z.strictObject({ id, runId: id }),
  "datasets.list": z.strictObject({}),
  "system.backends": z.strictObject({}),
  "system.settings.get": z.strictObject({}),
  "system.settings.set": z.strictObject({ settings: z.record(z.string(), z.unknown()) }),
  /** f or its smoothed version f_delta on a grid (core/landscape). */
  "landscape.grid": landscapeGridParams,
  /** Simulated SGD from many random starts under several schedules (core/landscape). */
  "landscape.experiment": landscapeExperimentParams,
  /** The remote workers on the host's Redis queue (docs/remote.md); none when runs train locally. */
  "workers.list": z.strictObject({}),
} as const;

export type MethodName = keyof typeof METHODS;
export type Params<M extends MethodName> = z.input<(typeof METHODS)[M]>;
export type ParsedParams<M extends MethodName> = z.output<(typeof METHODS)[M]>;

/** A step series downsampled for plotting: x and y with min/max per bucket kept. */
export interface Series {
  x: number[];
  y: number[];
}

export interface SchedulePreview {
  name: string | null;
  datasetSize: number;
  deltaRelative: boolean;
  epochs: EpochRow[];
  totals: Record<string, number>;
  warnings: CompileWarning[];
  /** How the document's length met the run's (relative, exact, truncate, extend, fit). */
  length: RunLength;
  /** Per-step series against the step index, downsampled to maxPoints. */
  steps: { lr: Series; batchSize: Series; delta: Series; samples: Series };
}

export interface DatasetInfo {
  name: string;
  available: boolean;
  where: string | null;
  description: string;
  /** How to get it when it is not available. */
  hint: string | null;
}

/** The result type of every method. */
export interface Results {
  "schedules.validate": { ok: true } | { ok: false; issues: ScheduleIssue[] };
  "schedules.preview": SchedulePreview;
  "schedules.presets": Preset[];
  "schedules.export": { code: string; filename: string };
  "runs.start": { id: string; position: number };
  "runs.pause": { ok: true };
  "runs.resume": { ok: true };
  "runs.stop": { ok: true };
  "runs.list": RunSummary[];
  "runs.get": RunDetails;
  "runs.metrics": MetricSeries[];
  "runs.queue": { queue: string[] };
  "runs.queue.move": { queue: string[] };
  "runs.tag": { ok: true };
  "runs.untag": { ok: true };
  "runs.note": { ok: true };
  "runs.rename": { ok: true };
  /** removed: the run's folder in the home, if it had one; kept: checkpoint folders outside the home (never touched). */
  "runs.delete": { ok: true; removed: string[]; kept: string[] };
  "runs.export": { content: string; filename: string };
  "runs.import": {
    imported: { id: string; from: string }[];
    skipped: string[];
    replaced: string[];
  };
  "runs.sharpness": {
    id: string;
    /** The checkpoint's epoch (0-based): the values are recorded at its end. */
    epoch: number;
    values: SharpnessValue[];
    backend: string | null;
    seconds: number | null;
  };
  "sweeps.templates": SweepTemplate[];
  "sweeps.validate":
    | { ok: true; members: number; needsNoise: boolean }
    | { ok: false; issues: SweepIssue[] };
  "sweeps.create": { id: string; members: number };
  "sweeps.list": SweepSummary[];
  "sweeps.get": SweepDetails;
  "sweeps.pause": { ok: true };
  "sweeps.resume": { ok: true };
  /** stopped: members stopped here; elsewhere: members training in another process (its `sweep run` stops them). */
  "sweeps.cancel": { ok: true; stopped: string[]; elsewhere: string[] };
  "sweeps.rerun": { requeued: string[] };
  "sweeps.extend": { added: string[]; members: number };
  "sweeps.cancelMember": { ok: true };
  "datasets.list": DatasetInfo[];
  "system.backends": DoctorJson;
  "system.settings.get": Record<string, unknown>;
  "system.settings.set": Record<string, unknown>;
  "landscape.grid": LandscapeGrid;
  "landscape.experiment": LandscapeExperiment;
  "workers.list": WorkersList;
}

export type Result<M extends MethodName> = Results[M];

/** Everything the service pushes to its clients. */
export type ServiceEvent =
  | { type: "run.event"; runId: string; event: TrainEvent }
  | { type: "run.status"; runId: string; status: RunStatus; error?: string }
  /** The runs waiting to train, in order (as `runs.queue` returns them). */
  | { type: "queue.changed"; queue: string[] }
  /** A sweep was made, extended, paused, resumed or cancelled (its members' changes come as run.status). */
  | { type: "sweep.changed"; sweepId: string };

/**
 * Events of the desktop shell itself (the application menu), sent to the page
 * on the same channel as the service's events (Electron only).
 */
export type AppEvent =
  /** File > Open Schedule...: the file the user picked, as text; validate it with `schedules.validate`. */
  | { type: "app.schedule-opened"; name: string; content: string }
  /**
   * File > Save Schedule... / Export to PyTorch...: the renderer makes the file
   * and downloads it (an `<a download>` of a blob URL, as in a browser); the main
   * process shows the native save dialog for that download.
   */
  | { type: "app.menu"; command: AppMenuCommand }
  /** Something the shell could not do (a file too large to open, unreadable). */
  | { type: "app.error"; message: string };

/** The menu commands the page carries out (`app.menu` events). */
export type AppMenuCommand = "schedule.save" | "schedule.export-pytorch";

/** Everything a client may receive: the service's events and, under Electron, the shell's. */
export type ClientEvent = ServiceEvent | AppEvent;

export type ServiceErrorCode =
  | "unknown-method"
  | "invalid-params"
  | "not-found"
  | "conflict"
  | "invalid-schedule"
  | "internal";

/** A structured error every host returns as-is: code, message, and the offending field. */
export class ServiceError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ServiceError";
  }

  toJSON(): { code: ServiceErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === "string" && Object.hasOwn(METHODS, name);
}

/** Validates a call's method name and params; throws ServiceError. */
export function validateCall<M extends MethodName>(
  method: unknown,
  params: unknown,
): { method: M; params: ParsedParams<M> } {
  if (!isMethodName(method)) {
    throw new ServiceError("unknown-method", `unknown method ${JSON.stringify(method)}`);
  }
  const result = METHODS[method].safeParse(params ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue?.path.map(String).join(".") || undefined;
    const what =
      issue?.code === "unrecognized_keys"
        ? `unknown field ${issue.keys.join(", ")}`
        : issue?.message;
    throw new ServiceError(
      "invalid-params",
      `${method}: ${field ? `${field}: ` : ""}${what}`,
      field,
    );
  }
  return { method: method as M, params: result.data as ParsedParams<M> };
}
