/**
 * The `sweeps.*` methods of the service. A sweep's members are ordinary
 * queued runs in the library (core/store/sweeps.ts), so the RunManager's
 * durable queue, claims, leases, resume and concurrency run them unchanged;
 * whichever launcher the RunManager has (a local worker process, or another
 * executor behind the same TrainingLauncher interface) trains them, and
 * nothing here knows which.
 *
 * Pausing holds the members that wait (claims skip them); cancelling stops
 * them. With delta swept and no C given, C is estimated first by a short run
 * of the base spec (one epoch on a few thousand images, the trainer's direct
 * estimate after it: core/engine/trainer.ts) and recorded on the sweep.
 */
import type { ParsedParams, Results, ServiceEvent } from "../api/contract.js";
import { ServiceError } from "../api/contract.js";
import type { RunStatus } from "../api/lists.js";
import type { RunRecord } from "../api/records.js";
import {
  type Axis,
  parseSweepSpec,
  type SweepCounts,
  type SweepDetails,
  type SweepMember,
  type SweepNoise,
  type SweepSpec,
  SweepSpecError,
  type SweepSummary,
} from "../api/sweep.js";
import type { TrainEvent, TrainSpecInput } from "../engine/events.js";
import type { TrainingLauncher } from "../engine/worker-client.js";
import { type SweepRow, SweepStore } from "../store/sweeps.js";
import { axisValues, expandSweep } from "../sweep/expand.js";
import { scheduleBatch, scheduleLr } from "../sweep/schedule-params.js";
import { SWEEP_TEMPLATES } from "../sweep/templates.js";
import type { RunManager } from "./run-manager.js";

/** A tag on members the user cancelled: `sweep run` resumes other stopped members, never these. */
export const CANCELLED_TAG = "sweep-cancelled";

const FINAL: readonly RunStatus[] = ["completed", "failed", "stopped"];

function invalid(err: SweepSpecError): ServiceError {
  const first = err.issues[0];
  return new ServiceError("invalid-params", err.message, first ? `spec.${first.path}` : "spec");
}

/** Runs the short C estimate: one epoch of the base spec on `trainLimit` images, direct estimate after it. */
export async function estimateNoise(
  manager: RunManager,
  launch: TrainingLauncher,
  spec: SweepSpec,
): Promise<SweepNoise> {
  const trainLimit = spec.delta?.estimate?.trainLimit ?? 2048;
  const pilot = manager.prepareSpec({
    ...spec.base,
    epochs: 1,
    trainLimit,
    testLimit: 100,
    noiseEvery: 0,
    noiseDirectEpochs: [0],
  });
  delete pilot.sharpness;
  let found: Extract<TrainEvent, { type: "noise" }> | null = null;
  const handle = launch(pilot as unknown as TrainSpecInput, {
    onEvent: (e) => {
      if (e.type === "noise") found = e;
    },
  });
  try {
    await handle.done;
  } catch (err) {
    throw new ServiceError(
      "invalid-params",
      `estimating C for the delta axis failed (${(err as Error).message}); give it as delta.noise`,
      "spec.delta.noise",
    );
  }
  const noise = found as Extract<TrainEvent, { type: "noise" }> | null;
  if (!noise || !(noise.c > 0))
    throw new ServiceError(
      "internal",
      "the short run ended without an estimate of C; give it as delta.noise",
    );
  return {
    c: noise.c,
    method: "direct-estimate",
    batches: noise.batches,
    batchSize: noise.batchSize,
    trainLimit,
    at: new Date().toISOString(),
  };
}

function plannedEpochs(run: RunRecord): number | null {
  if (run.plannedEpochs !== null) return run.plannedEpochs;
  if (typeof run.spec.epochs === "number") return run.spec.epochs;
  const e = (run.spec.schedule as { epochs?: unknown } | undefined)?.epochs;
  return typeof e === "number" ? e : null;
}

function toMember(run: RunRecord, c: number | null): SweepMember {
  const lr = scheduleLr(run.spec.schedule);
  const batchSize = scheduleBatch(run.spec.schedule);
  return {
    runId: run.id,
    key: run.sweep?.member ?? "",
    values: run.sweep?.values ?? {},
    status: run.status,
    attempt: run.attempt,
    epochsDone: run.lastEpoch === null ? 0 : run.lastEpoch + 1,
    plannedEpochs: plannedEpochs(run),
    finalTestAccuracy: run.final.testAccuracy,
    bestTestAccuracy: run.best.testAccuracy,
    samples: run.samples,
    wallTime: run.wallTime,
    delta: c !== null && lr !== null && batchSize !== null ? (lr * c) / Math.sqrt(batchSize) : null,
    lr,
    batchSize,
    error: run.error?.message ?? null,
    cancelled: run.tags.includes(CANCELLED_TAG),
  };
}

/** Progress and ETA of a sweep from its members' rows. */
export function summarize(row: SweepRow, runs: RunRecord[]): SweepSummary {
  const spec = row.spec as SweepSpec;
  const counts = Object.fromEntries(
    ["queued", "running", "paused", "completed", "stopped", "failed", "interrupted"].map((s) => [
      s,
      0,
    ]),
  ) as SweepCounts;
  counts.total = runs.length;
  let done = 0;
  let planned = 0;
  let seconds = 0;
  let timed = 0;
  for (const r of runs) {
    counts[r.status]++;
    const d = r.lastEpoch === null ? 0 : r.lastEpoch + 1;
    const p = plannedEpochs(r) ?? d;
    done += d;
    // A member that ends early (failed, stopped) has nothing left to do.
    planned += FINAL.includes(r.status) ? d : Math.max(p, d);
    if (r.wallTime && d > 0) {
      seconds += r.wallTime;
      timed += d;
    }
  }
  const waiting = counts.queued + counts.running + counts.paused + counts.interrupted;
  const parallel = Math.max(1, counts.running);
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    finished: runs.length > 0 && waiting === 0,
    method: spec.method ?? "grid",
    axes: Object.keys(spec.axes ?? {}),
    counts,
    epochsDone: done,
    epochsPlanned: planned,
    etaSeconds: timed > 0 ? ((planned - done) * (seconds / timed)) / parallel : null,
    noise: row.noise,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** Merges extra axis values into a sweep document (ranges become their lists); refuses new axes. */
export function extendSpec(spec: SweepSpec, p: ParsedParams<"sweeps.extend">): SweepSpec {
  const next: SweepSpec = structuredClone(spec);
  for (const [name, add] of Object.entries(p.axes)) {
    const axis = spec.axes[name];
    if (axis === undefined)
      throw new ServiceError(
        "invalid-params",
        `axes.${name}: the sweep has no axis ${name} (axes: ${Object.keys(spec.axes).join(", ") || "none"}); extend adds values to existing axes`,
        `axes.${name}`,
      );
    if (!Array.isArray(axis) && "random" in axis)
      throw new ServiceError(
        "invalid-params",
        `axes.${name}: a random draw has no values to add; raise count to draw more members`,
        `axes.${name}`,
      );
    const have = axisValues(axis as Axis, `axes.${name}`);
    const seen = new Set(have.map((v) => JSON.stringify(v)));
    next.axes[name] = [...have, ...add.filter((v) => !seen.has(JSON.stringify(v)))];
  }
  if (p.seeds !== undefined) {
    const old =
      spec.seeds === undefined
        ? [typeof spec.base.seed === "number" ? spec.base.seed : 0]
        : typeof spec.seeds === "number"
          ? Array.from({ length: spec.seeds }, (_, i) => i)
          : spec.seeds;
    const add =
      typeof p.seeds === "number" ? Array.from({ length: p.seeds }, (_, i) => i) : p.seeds;
    next.seeds = [...new Set([...old, ...add])];
  }
  if (p.count !== undefined) {
    if (spec.method !== "random")
      throw new ServiceError(
        "invalid-params",
        "count: only a random sweep has a count; add axis values to a grid",
        "count",
      );
    if (p.count < (spec.count ?? 0))
      throw new ServiceError(
        "invalid-params",
        `count: the sweep already draws ${spec.count}; give more`,
        "count",
      );
    next.count = p.count;
  }
  return next;
}

type SweepHandlers = {
  [M in Extract<keyof Results, `sweeps.${string}`>]: (
    p: ParsedParams<M>,
  ) => Promise<Results[M]> | Results[M];
};

/** The `sweeps.*` handlers over a RunManager (its library, queue and launcher). */
export function sweepMethods(
  manager: RunManager,
  launch: TrainingLauncher,
  emit: (event: ServiceEvent) => void,
): SweepHandlers {
  const sweeps = new SweepStore(manager.store);
  const changed = (id: string) => emit({ type: "sweep.changed", sweepId: id });
  const members = (id: string) => sweeps.members(id);
  const details = (id: string): SweepDetails => {
    const row = sweeps.get(id);
    const runs = members(row.id);
    return {
      ...summarize(row, runs),
      spec: row.spec as SweepSpec,
      members: runs.map((r) => toMember(r, row.noise?.c ?? null)),
    };
  };
  const expand = (spec: unknown, noise?: number) => {
    try {
      return expandSweep(spec, { noise });
    } catch (err) {
      if (err instanceof SweepSpecError) throw invalid(err);
      throw err;
    }
  };
  /** Members as the library stores them: each spec checked and resolved like `runs.start`. */
  const prepared = (list: ReturnType<typeof expandSweep>) =>
    list.map((m) => ({ key: m.key, values: m.values, spec: manager.prepareSpec(m.spec) }));
  const requireState = (row: SweepRow, ...allowed: SweepRow["state"][]) => {
    if (!allowed.includes(row.state))
      throw new ServiceError("conflict", `sweep ${row.id} is ${row.state}`);
  };

  return {
    "sweeps.templates": () => structuredClone([...SWEEP_TEMPLATES]),
    "sweeps.validate": (p) => {
      try {
        const spec = parseSweepSpec(p.spec);
        const needsNoise = Object.hasOwn(spec.axes, "delta") && spec.delta?.noise === undefined;
        // Without C a delta sweep still has a shape: count it with C = 1 (the count does not depend on C).
        return {
          ok: true,
          members: expandSweep(p.spec, { noise: needsNoise ? 1 : undefined }).length,
          needsNoise,
        };
      } catch (err) {
        if (err instanceof SweepSpecError) return { ok: false, issues: err.issues };
        throw err;
      }
    },
    "sweeps.create": async (p) => {
      let spec: SweepSpec;
      try {
        spec = parseSweepSpec(p.spec);
      } catch (err) {
        if (err instanceof SweepSpecError) throw invalid(err);
        throw err;
      }
      // Everything but C is checked before the (slower) estimate.
      const needsNoise = Object.hasOwn(spec.axes, "delta") && spec.delta?.noise === undefined;
      prepared(expand(p.spec, needsNoise ? 1 : undefined));
      const noise: SweepNoise | null = spec.delta?.noise
        ? { c: spec.delta.noise, method: "given", at: new Date().toISOString() }
        : needsNoise
          ? await estimateNoise(manager, launch, spec)
          : null;
      const list = prepared(expand(p.spec, noise?.c));
      const created = sweeps.create({ name: p.name ?? spec.name ?? null, spec, noise }, list);
      manager.queued();
      changed(created.id);
      return { id: created.id, members: created.created.length };
    },
    "sweeps.list": () => sweeps.list().map((row) => summarize(row, members(row.id))),
    "sweeps.get": (p) => details(p.id),
    "sweeps.pause": (p) => {
      const row = sweeps.get(p.id);
      requireState(row, "active", "paused");
      sweeps.setState(row.id, "paused");
      manager.queued();
      changed(row.id);
      return { ok: true };
    },
    "sweeps.resume": (p) => {
      const row = sweeps.get(p.id);
      requireState(row, "active", "paused");
      sweeps.setState(row.id, "active");
      manager.queued();
      changed(row.id);
      return { ok: true };
    },
    "sweeps.cancel": (p) => {
      const row = sweeps.get(p.id);
      sweeps.setState(row.id, "cancelled");
      const stopped: string[] = [];
      const elsewhere: string[] = [];
      for (const run of members(row.id)) {
        if (run.status === "queued" || manager.trains(run.id)) {
          manager.store.tag(run.id, CANCELLED_TAG);
          manager.stop(run.id);
          stopped.push(run.id);
        } else if (run.status === "running" || run.status === "paused") {
          manager.store.tag(run.id, CANCELLED_TAG);
          elsewhere.push(run.id);
        }
      }
      manager.queued();
      changed(row.id);
      return { ok: true, stopped, elsewhere };
    },
    "sweeps.rerun": (p) => {
      const row = sweeps.get(p.id);
      const statuses = p.statuses ?? ["failed", "interrupted"];
      const requeued: string[] = [];
      for (const run of members(row.id)) {
        if (!(statuses as string[]).includes(run.status)) continue;
        if (p.maxAttempts !== undefined && run.attempt >= p.maxAttempts) continue;
        if (run.tags.includes(CANCELLED_TAG) && !p.includeCancelled) continue;
        manager.store.untag(run.id, CANCELLED_TAG);
        manager.resume(run.id);
        requeued.push(run.id);
      }
      // Rerunning members of a cancelled sweep makes it run again.
      if (requeued.length > 0 && row.state === "cancelled") sweeps.setState(row.id, "active");
      manager.queued();
      changed(row.id);
      return { requeued };
    },
    "sweeps.extend": (p) => {
      const row = sweeps.get(p.id);
      requireState(row, "active", "paused");
      const next = extendSpec(row.spec as SweepSpec, p);
      const list = prepared(expand(next, row.noise?.c));
      const added = sweeps.addMembers(row.id, list, next);
      manager.queued();
      changed(row.id);
      return { added, members: members(row.id).length };
    },
    "sweeps.cancelMember": (p) => {
      const row = sweeps.get(p.id);
      const run = manager.store.getRun(p.runId);
      if (run.sweep?.id !== row.id)
        throw new ServiceError(
          "invalid-params",
          `run ${run.id} is not a member of sweep ${row.id}`,
          "runId",
        );
      manager.store.tag(run.id, CANCELLED_TAG);
      // Training in another process: the tag is the request; that host (its `sweep run`) stops it.
      if (run.status === "queued" || manager.trains(run.id)) manager.stop(run.id);
      changed(row.id);
      return { ok: true };
    },
  };
}
