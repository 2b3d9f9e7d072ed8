/**
 * The fault matrix (issue 13): SIGKILL the host process (`sgd-studio train`
 * or `sgd-studio serve`) or its training worker at random moments of short
 * runs, recover the way a user would, and check the library afterwards.
 *
 * With a seeded RNG it plays episodes: in a fresh home or one shared by the
 * whole matrix, start one run with `sgd-studio train`, or a `serve` host with
 * one to three queued runs (mlp, cpu backend, 300 images in batches of 16,
 * 3-6 epochs), and land one to three faults on the attempts that follow.
 * Moments: start-up (a random delay after the attempt began: host start,
 * claim, worker loading), mid-epoch (after a random step), around an epoch's
 * end (its last step: during evaluation; its metrics: during the checkpoint
 * save; its checkpoint: during the commit and the next epoch's start) and
 * near the end (the last epoch, its checkpoint, the summary). The worker is
 * found as the host's child (/proc/<pid>/task/<pid>/children).
 *
 * Recovery, as a user would: a killed `train` is run again with
 * `--resume <id>` (or, when it died before printing the id, every unfinished
 * run of the library is resumed, or the command is run again when the run
 * was never created); a killed `serve` is restarted and its interrupted runs
 * are resumed (runs.resume, queued); after a worker kill the serve host goes
 * on with its queue and the user resumes the interrupted run.
 *
 * Checks, over every run the user started and every run of every library
 * used: runs lost (not in the library, or not completed after recovery),
 * metric gaps (an epoch with fewer step rows than a reference uninterrupted
 * run of the same spec, a missing testAccuracy, a step key missing a step, or
 * a loss / samples / testAccuracy value differing from the reference's: same
 * seed, same trajectory, 1e-6 relative), duplicate rows (a (run, key, step)
 * twice, steps beyond the reference's, samples not increasing with step), and
 * PRAGMA integrity_check of each library.
 *
 * Used by bench/fault-matrix.bench.ts (50 faults) and
 * tests/lifecycle/fault-matrix.test.ts (a few faults, in CI). Needs the
 * compiled CLI (dist/).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { ServiceEvent } from "../core/api/contract.js";
import { libraryPaths } from "../core/store/paths.js";
import { verifySeries } from "../core/store/series.js";
import type { RunRecord } from "../core/store/store.js";
import { cli, look, type Proc, type ServeHost, serve, tempHome } from "../tests/lifecycle/hosts.js";

export type FaultKind = "host" | "worker";
export type Moment = "startup" | "mid-epoch" | "epoch-end" | "near-end";
export type Mode = "cli" | "serve";
export const KINDS: readonly FaultKind[] = ["host", "worker"];
export const MOMENTS: readonly Moment[] = ["startup", "mid-epoch", "epoch-end", "near-end"];

const TRAIN_LIMIT = 300;
const BATCH = 16;
/** Constant batches of 16 over 300 images (the last one short): 19 steps per epoch. */
const STEPS_PER_EPOCH = Math.ceil(TRAIN_LIMIT / BATCH);
export const SCHEDULE = {
  version: 1,
  name: "fault-matrix",
  epochs: 3,
  lr: { kind: "step", lr: 0.05, stepSize: 2, gamma: 0.5 },
  batch: { kind: "constant", size: BATCH },
};

/** A run: its seed and epochs (the rest is fixed); one reference run per spec. */
export interface RunSpec {
  seed: number;
  epochs: number;
}
export const DEFAULT_SPECS: readonly RunSpec[] = [
  { seed: 1, epochs: 3 },
  { seed: 2, epochs: 4 },
  { seed: 3, epochs: 5 },
  { seed: 4, epochs: 6 },
];

export interface MatrixOptions {
  /** Faults to land (kills of a live process). */
  faults: number;
  seed: number;
  /** Moments to cover (default all four); faults cycle through kind x moment. */
  moments?: readonly Moment[];
  specs?: readonly RunSpec[];
  modes?: readonly Mode[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Keep the homes for inspection (default: removed when every check passed). */
  keep?: boolean;
}

export interface FaultRecord {
  n: number;
  kind: FaultKind;
  moment: Moment;
  mode: Mode;
  episode: number;
  shared: boolean;
  runId: string | null;
  /** What the trigger waited for. */
  trigger: string;
  /** The last event the harness had seen from the run when it killed (the worker may be a little ahead). */
  seen: string;
}

export interface RunCheck {
  id: string;
  home: string;
  status: string | null;
  seed: number | null;
  epochs: number | null;
  attempts: number;
  lost: boolean;
  gaps: number;
  duplicates: number;
  notes: string[];
}

export interface MatrixResult {
  seed: number;
  faults: FaultRecord[];
  /** Kills that found their target already gone (retried later; not counted as faults). */
  missed: number;
  episodes: { cli: number; serve: number };
  runs: RunCheck[];
  integrity: { home: string; result: string }[];
  totals: { runsLost: number; metricGaps: number; duplicateRows: number };
  /** Surprises during recovery (a failed verdict, a host that exited on its own, a timeout). */
  anomalies: string[];
  referenceMs: number;
  wallMs: number;
  dir: string;
}

// ---- a seeded RNG ---------------------------------------------------------

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** mulberry32: uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  shuffle<T>(list: T[]): T[] {
    for (let i = list.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [list[i], list[j]] = [list[j] as T, list[i] as T];
    }
    return list;
  }
}

// ---- processes --------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function procState(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ")[0] ?? null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  const s = procState(pid);
  return s !== null && s !== "Z" && s !== "X" && s !== "x";
}

/** Live children of a process: a host's training worker. */
export function workersOf(pid: number): number[] {
  let text = "";
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8");
  } catch {
    return [];
  }
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((p) => isAlive(p));
}

/** One training event or status as the harness saw it (from `train --json` or the serve client). */
interface Ev {
  runId: string | null;
  type: string;
  epoch?: number;
  step?: number;
  startEpoch?: number;
  epochs?: number;
  status?: string;
  message?: string;
}

class Feed {
  readonly list: Ev[] = [];
  push(e: Ev): void {
    this.list.push(e);
  }
  /** Index of the first event at or after `from` that matches; -1 once `stop()` holds or after `ms`. */
  async find(
    from: number,
    match: (e: Ev) => boolean,
    stop: () => boolean,
    ms: number,
  ): Promise<number> {
    const t0 = Date.now();
    let i = from;
    for (;;) {
      for (; i < this.list.length; i++) if (match(this.list[i] as Ev)) return i;
      if (stop() || Date.now() - t0 > ms) return -1;
      await sleep(4);
    }
  }
}

interface Host {
  mode: Mode;
  proc: Proc;
  feed: Feed;
  ended: boolean;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  /** `train`: the run id it printed. */
  runId: string | null;
  serve?: ServeHost;
  workers: Set<number>;
}

function trainEvent(runId: string | null, e: Record<string, unknown>): Ev {
  return {
    runId,
    type: String(e.type),
    epoch: typeof e.epoch === "number" ? e.epoch : undefined,
    step: typeof e.step === "number" ? e.step : undefined,
    startEpoch: typeof e.startEpoch === "number" ? e.startEpoch : undefined,
    epochs: typeof e.epochs === "number" ? e.epochs : undefined,
  };
}

function track(h: Host): Host {
  void h.proc.exited.then((r) => {
    h.ended = true;
    h.exit = r;
  });
  // Remember the workers it started (to wait for orphans before the next episode).
  const timer = setInterval(() => {
    if (h.ended) clearInterval(timer);
    for (const w of workersOf(h.proc.pid)) h.workers.add(w);
  }, 50);
  timer.unref();
  return h;
}

function startTrain(args: string[]): Host {
  const proc = cli(args);
  const h: Host = {
    mode: "cli",
    proc,
    feed: new Feed(),
    ended: false,
    exit: null,
    runId: null,
    workers: new Set(),
  };
  let buf = "";
  proc.child.stdout?.on("data", (chunk: Buffer) => {
    buf += chunk.toString();
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.startsWith("{")) continue;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (o.type === "run") {
        h.runId = String(o.id);
        h.feed.push({ runId: h.runId, type: "run" });
      } else if (o.type === "error" && typeof o.status === "string") {
        h.feed.push({
          runId: h.runId,
          type: "status",
          status: o.status,
          message: String(o.message),
        });
      } else h.feed.push(trainEvent(h.runId, o));
    }
  });
  return track(h);
}

async function startServe(home: string): Promise<Host> {
  const s = await serve(home);
  const h: Host = {
    mode: "serve",
    proc: s,
    feed: new Feed(),
    ended: false,
    exit: null,
    runId: null,
    serve: s,
    workers: new Set(),
  };
  const take = (e: ServiceEvent) => {
    if (e.type === "run.event")
      h.feed.push(trainEvent(e.runId, e.event as unknown as Record<string, unknown>));
    else if (e.type === "run.status")
      h.feed.push({ runId: e.runId, type: "status", status: e.status, message: e.error });
  };
  for (const e of s.events) take(e);
  s.client.on((e) => take(e as ServiceEvent));
  return track(h);
}

async function waitExit(h: Host, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    h.proc.exited.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    }),
  ]);
  clearTimeout(timer);
  if (!done) {
    h.proc.kill("SIGKILL");
    await h.proc.exited;
  }
  return done;
}

async function closeServe(h: Host): Promise<void> {
  h.serve?.client.close();
  if (!h.ended) {
    h.proc.kill("SIGTERM");
    await waitExit(h, 20_000);
  }
}

// ---- the library ------------------------------------------------------------

function runsIn(home: string): RunRecord[] {
  return look(home, (s) => s.listRuns({ order: "oldest" }));
}

function statusOf(home: string, id: string): string | null {
  return look(home, (s) => s.findRun(id)?.status ?? null);
}

interface Reference {
  spec: RunSpec;
  /** Per step: loss and samples. */
  loss: number[];
  samples: number[];
  /** Loss rows per epoch. */
  perEpoch: number[];
  testAccuracy: number[];
}

interface MetricRow {
  key: string;
  step: number;
  epoch: number;
  samples: number;
  value: number | null;
}

/** Raw SQL on the library file, with a connection of its own (the checks read tables the API does not expose). */
function sql<T>(home: string, fn: (db: Database.Database) => T): T {
  const db = new Database(libraryPaths(home).db, { fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function metricRows(home: string, id: string): MetricRow[] {
  return sql(
    home,
    (db) =>
      db
        .prepare(
          "SELECT key, step, epoch, samples, value FROM metric_values WHERE run_id = ? ORDER BY key, step",
        )
        .all(id) as MetricRow[],
  );
}

function reference(home: string, id: string, spec: RunSpec): Reference {
  const rows = metricRows(home, id);
  const loss = rows.filter((r) => r.key === "loss");
  const perEpoch = Array.from({ length: spec.epochs }, () => 0);
  for (const r of loss) perEpoch[r.epoch] = (perEpoch[r.epoch] ?? 0) + 1;
  const testAccuracy: number[] = [];
  for (const r of rows) if (r.key === "testAccuracy") testAccuracy[r.epoch] = r.value as number;
  return {
    spec,
    loss: loss.map((r) => r.value as number),
    samples: loss.map((r) => r.samples),
    perEpoch,
    testAccuracy,
  };
}

const STEP_KEYS = ["loss", "lr", "batchSize", "delta", "gradNorm", "throughput"];
const EPOCH_KEYS = ["trainLoss", "trainAccuracy", "testLoss", "testAccuracy", "tensors"];

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

/** Gaps and duplicates of one completed run against its reference (see the module comment). */
function checkRows(
  rows: MetricRow[],
  ref: Reference,
): { gaps: number; duplicates: number; notes: string[] } {
  const notes: string[] = [];
  let gaps = 0;
  let duplicates = 0;
  const E = ref.spec.epochs;
  const byKey = new Map<string, MetricRow[]>();
  for (const r of rows) {
    const list = byKey.get(r.key) ?? [];
    list.push(r);
    byKey.set(r.key, list);
  }
  const loss = byKey.get("loss") ?? [];
  for (let e = 0; e < E; e++) {
    const mine = loss.filter((r) => r.epoch === e);
    const want = ref.perEpoch[e] ?? 0;
    if (mine.length < want) {
      gaps++;
      notes.push(`epoch ${e}: ${mine.length} of ${want} step rows`);
    }
    if (mine.length > want) {
      duplicates += mine.length - want;
      notes.push(`epoch ${e}: ${mine.length} step rows, the reference has ${want}`);
    }
    const differing = mine.filter(
      (r) =>
        !close(r.value as number, ref.loss[r.step] ?? Number.NaN) ||
        r.samples !== ref.samples[r.step],
    );
    if (differing.length > 0) {
      gaps++;
      const d = differing[0] as MetricRow;
      notes.push(
        `epoch ${e}: ${differing.length} loss rows differ from the reference (step ${d.step}: ${d.value} / ${d.samples} samples vs ${ref.loss[d.step]} / ${ref.samples[d.step]})`,
      );
    }
    const acc = (byKey.get("testAccuracy") ?? []).filter((r) => r.epoch === e);
    if (acc.length === 0) {
      gaps++;
      notes.push(`epoch ${e}: no testAccuracy`);
    } else if (acc[0]?.value !== ref.testAccuracy[e]) {
      gaps++;
      notes.push(`epoch ${e}: testAccuracy ${acc[0]?.value} vs ${ref.testAccuracy[e]}`);
    }
  }
  const beyond = rows.filter((r) => r.epoch >= E).length;
  if (beyond > 0) {
    duplicates += beyond;
    notes.push(`${beyond} rows of epochs >= ${E}`);
  }
  const total = ref.loss.length;
  for (const key of STEP_KEYS) {
    const list = byKey.get(key) ?? [];
    const steps = new Set(list.map((r) => r.step));
    let missing = 0;
    for (let s = 0; s < total; s++) if (!steps.has(s)) missing++;
    if (missing > 0 && key !== "loss") {
      gaps++;
      notes.push(`${key}: ${missing} of ${total} steps missing`);
    }
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1] as MetricRow;
      const b = list[i] as MetricRow;
      if (b.step === a.step || b.samples <= a.samples || b.epoch < a.epoch) {
        duplicates++;
        notes.push(
          `${key}: step ${b.step} (samples ${b.samples}) after step ${a.step} (${a.samples})`,
        );
      }
    }
  }
  for (const key of EPOCH_KEYS) {
    const list = byKey.get(key) ?? [];
    const epochs = list.map((r) => r.epoch);
    if (new Set(epochs).size !== epochs.length) {
      duplicates += epochs.length - new Set(epochs).size;
      notes.push(`${key}: an epoch twice`);
    }
  }
  return { gaps, duplicates, notes };
}

// ---- the matrix ------------------------------------------------------------

interface PlannedFault {
  kind: FaultKind;
  moment: Moment;
}

interface Trigger {
  name: string;
  match: (e: Ev) => boolean;
  delayMs: number;
}

/** What the run's last seen event was, in words. */
function seenText(e: Ev | undefined): string {
  if (!e) return "nothing yet";
  switch (e.type) {
    case "start":
      return `start (from epoch ${(e.startEpoch ?? 0) + 1})`;
    case "step":
      return `step ${e.step} (epoch ${(e.epoch ?? 0) + 1})`;
    case "epoch":
      return `epoch ${(e.epoch ?? 0) + 1} metrics`;
    case "checkpoint":
      return `checkpoint ${(e.epoch ?? 0) + 1}`;
    case "status":
      return e.status === "running" ? "status running (claimed)" : `status ${e.status}`;
    default:
      return e.type;
  }
}

class Matrix {
  readonly rng: Rng;
  readonly faults: FaultRecord[] = [];
  readonly anomalies: string[] = [];
  /** Every run id the user was given (printed by train, returned by runs.start), with its home. */
  readonly started = new Map<string, string>();
  readonly homes = new Set<string>();
  readonly plan: PlannedFault[] = [];
  missed = 0;
  episode = 0;
  readonly episodes = { cli: 0, serve: 0 };
  readonly schedule: string;
  readonly shared: string;
  /** Every worker pid seen (orphans are waited for between episodes). */
  private readonly workers = new Set<number>();

  constructor(
    readonly options: MatrixOptions,
    readonly dir: string,
  ) {
    this.rng = new Rng(options.seed);
    this.schedule = join(dir, "schedule.json");
    writeFileSync(this.schedule, JSON.stringify(SCHEDULE));
    this.shared = join(dir, "shared");
    mkdirSync(this.shared);
    const moments = options.moments ?? MOMENTS;
    const combos = KINDS.flatMap((kind) => moments.map((moment) => ({ kind, moment })));
    // Each round covers every kind x moment once, in a random order.
    while (this.plan.length < options.faults)
      this.plan.push(...this.rng.shuffle([...combos]).slice(0, options.faults - this.plan.length));
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  trainArgs(home: string, spec: RunSpec): string[] {
    return [
      "train",
      "--home",
      home,
      "--schedule",
      this.schedule,
      "--epochs",
      String(spec.epochs),
      "--backend",
      "cpu",
      "--train-limit",
      String(TRAIN_LIMIT),
      "--seed",
      String(spec.seed),
      "--json",
    ];
  }

  /** The same spec as trainArgs, for runs.start (one reference serves both). */
  serveSpec(spec: RunSpec): Record<string, unknown> {
    return {
      dataset: "default",
      model: "mlp",
      backend: "cpu",
      seed: spec.seed,
      epochs: spec.epochs,
      trainLimit: TRAIN_LIMIT,
      schedule: SCHEDULE,
    };
  }

  planned(home: string, runId: string): number | null {
    return look(home, (s) => {
      const run = s.findRun(runId);
      const e = run?.spec.epochs;
      return typeof e === "number" ? e : null;
    });
  }

  /**
   * What to wait for in an attempt that trains epochs S..E-1. A worker ends
   * within milliseconds of its last checkpoint, so worker faults near the end
   * aim at the last epoch's steps, evaluation and checkpoint save.
   */
  chooseTrigger(fault: PlannedFault, S: number, E: number): Trigger {
    const rng = this.rng;
    const spe = STEPS_PER_EPOCH;
    const stepIn = (e: number, k: number): Trigger => ({
      name: `step ${k + 1}/${spe} of epoch ${e + 1}`,
      match: (ev) => ev.type === "step" && ev.epoch === e && (ev.step ?? 0) - e * spe >= k,
      delayMs: rng.int(0, 40),
    });
    const lastStep = (e: number): Trigger => ({
      name: `last step of epoch ${e + 1} (evaluation)`,
      match: (ev) => ev.type === "step" && ev.epoch === e && (ev.step ?? 0) >= (e + 1) * spe - 1,
      delayMs: rng.int(0, 300),
    });
    const epochRows = (e: number): Trigger => ({
      name: `epoch ${e + 1} metrics (checkpoint save)`,
      match: (ev) => ev.type === "epoch" && ev.epoch === e,
      delayMs: rng.int(0, 30),
    });
    const checkpoint = (e: number): Trigger => ({
      name: `checkpoint ${e + 1} (commit, next epoch)`,
      match: (ev) => ev.type === "checkpoint" && ev.epoch === e,
      delayMs: rng.int(0, 80),
    });
    const summary: Trigger = {
      name: "summary (verdict)",
      match: (ev) => ev.type === "summary",
      delayMs: rng.int(0, 30),
    };
    if (S >= E) return summary;
    const early = rng.int(S, Math.max(S, E - 2));
    switch (fault.moment) {
      case "mid-epoch":
        return stepIn(early, rng.int(2, spe - 4));
      case "epoch-end":
        return rng.pick([lastStep, epochRows, checkpoint])(early);
      default: {
        const last = E - 1;
        const which = rng.int(0, fault.kind === "worker" ? 2 : 4);
        if (which === 4) return summary;
        return [(e: number) => stepIn(e, rng.int(2, spe - 4)), lastStep, epochRows, checkpoint][
          which
        ]?.(last) as Trigger;
      }
    }
  }

  /**
   * Waits for the fault's moment in the attempt(s) starting at feed index
   * `i0` (time `t0`) and kills its target. Null when there was nothing to
   * kill (the runs ended first, the target was gone).
   */
  async strike(
    h: Host,
    home: string,
    fault: PlannedFault,
    t0: number,
    i0: number,
  ): Promise<Omit<FaultRecord, "n" | "mode" | "episode" | "shared" | "kind" | "moment"> | null> {
    const kill = (runId: string | null, trigger: string) => {
      if (h.ended) return null;
      const last = [...h.feed.list].reverse().find((e) => !runId || e.runId === runId);
      if (fault.kind === "host") {
        if (!isAlive(h.proc.pid)) return null;
        h.proc.kill("SIGKILL");
      } else {
        const ws = workersOf(h.proc.pid);
        if (ws.length === 0) return null;
        for (const w of ws) {
          this.workers.add(w);
          try {
            process.kill(w, "SIGKILL");
          } catch {
            return null;
          }
        }
      }
      return { runId: runId ?? last?.runId ?? null, trigger, seen: seenText(last) };
    };

    if (fault.moment === "startup") {
      const delay = this.rng.int(0, 1800);
      while (Date.now() < t0 + delay && !h.ended) await sleep(4);
      if (fault.kind === "worker") {
        const t = Date.now();
        while (workersOf(h.proc.pid).length === 0 && !h.ended && Date.now() - t < 15_000)
          await sleep(4);
      }
      const last = h.feed.list.slice(i0).reverse()[0];
      return kill(last?.runId ?? h.runId, `${delay} ms after the attempt began`);
    }

    // Nothing left to train in this home: the fault waits for the next episode.
    let checked = 0;
    const idle = () => {
      if (Date.now() - checked < 250) return false;
      checked = Date.now();
      return runsIn(home).every((r) => r.status !== "running" && r.status !== "queued");
    };
    let from = i0;
    for (;;) {
      // The next run this host trains (its first event after `from`).
      const i = await h.feed.find(
        from,
        (e) => e.runId !== null && e.type !== "status" && e.type !== "run",
        () => h.ended || (h.mode === "serve" && idle()),
        120_000,
      );
      if (i < 0) return null;
      const first = h.feed.list[i] as Ev;
      const runId = first.runId as string;
      const E = first.epochs ?? this.planned(home, runId) ?? 1;
      const S = first.type === "start" ? (first.startEpoch ?? 0) : (first.epoch ?? 0);
      const trigger = this.chooseTrigger(fault, S, E);
      let ended = -1;
      const j = await h.feed.find(
        i,
        (e) => e.runId === runId && trigger.match(e),
        () => {
          if (h.ended) return true;
          for (let k = i; k < h.feed.list.length; k++) {
            const e = h.feed.list[k] as Ev;
            if (e.runId === runId && e.type === "status" && e.status !== "running") {
              ended = k;
              return true;
            }
          }
          return false;
        },
        120_000,
      );
      if (j >= 0) {
        await sleep(trigger.delayMs);
        return kill(runId, `${trigger.name} +${trigger.delayMs} ms`);
      }
      if (h.ended || ended < 0) return null;
      from = ended + 1;
    }
  }

  /** The next planned fault while the episode has quota. */
  nextFault(quota: { left: number }): PlannedFault | null {
    return quota.left > 0 ? (this.plan[0] ?? null) : null;
  }

  landed(
    quota: { left: number },
    fault: PlannedFault,
    mode: Mode,
    shared: boolean,
    s: Awaited<ReturnType<Matrix["strike"]>>,
  ): boolean {
    if (!s) {
      this.missed++;
      this.log(
        `  (${fault.kind} ${fault.moment} via ${mode}: nothing left to kill; retried later)`,
      );
      return false;
    }
    this.plan.shift();
    quota.left--;
    const rec: FaultRecord = {
      n: this.faults.length + 1,
      ...fault,
      mode,
      episode: this.episode,
      shared,
      ...s,
    };
    this.faults.push(rec);
    this.log(
      `  fault ${rec.n}: ${fault.kind} ${fault.moment} via ${mode}, run ${s.runId ?? "?"}: ${s.trigger}; seen: ${s.seen}`,
    );
    return true;
  }

  note(what: string): void {
    this.anomalies.push(`episode ${this.episode}: ${what}`);
    this.log(`  ! ${what}`);
  }

  /** One `train` run, killed and resumed until it is completed. */
  async cliEpisode(home: string, spec: RunSpec, quota: { left: number }): Promise<void> {
    const shared = home === this.shared;
    let id: string | null = null;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 15) {
        this.note(`run ${id} still not completed after 15 attempts`);
        return;
      }
      if (!id) {
        // Killed before it printed the id: what `sgd-studio runs list` shows unfinished.
        const open = runsIn(home).find((r) => r.status !== "completed" && !this.started.has(r.id));
        if (open) {
          id = open.id;
          this.started.set(id, home);
        }
      }
      const status = id ? statusOf(home, id) : null;
      if (status === "completed") return;
      if (status === "failed")
        this.note(`run ${id} failed: ${look(home, (s) => s.getRun(id as string).error?.message)}`);
      const h = startTrain(
        id ? ["train", "--resume", id, "--home", home, "--json"] : this.trainArgs(home, spec),
      );
      const t0 = Date.now();
      const fault = this.nextFault(quota);
      let hit = false;
      if (fault)
        hit = this.landed(quota, fault, "cli", shared, await this.strike(h, home, fault, t0, 0));
      const exited = await waitExit(h, 180_000);
      for (const w of h.workers) this.workers.add(w);
      if (h.runId && !id) {
        id = h.runId;
        this.started.set(id, home);
      }
      if (!exited) this.note(`train ${id} did not exit within 180 s`);
      else if (!hit && h.exit?.code !== 0)
        this.note(
          `train ${id} exited ${h.exit?.code} without a fault: ${h.proc.err().slice(-400)}`,
        );
      if (hit) await sleep(this.rng.int(0, 300));
    }
  }

  /** A serve host with queued runs; killed (host or worker) and recovered until they are completed. */
  async serveEpisode(home: string, specs: RunSpec[], quota: { left: number }): Promise<void> {
    const shared = home === this.shared;
    let h = await startServe(home);
    try {
      const ids: string[] = [];
      for (const spec of specs) {
        const { id } = await (h.serve as ServeHost).client.call("runs.start", {
          spec: this.serveSpec(spec),
        });
        ids.push(id);
        this.started.set(id, home);
      }
      let t0 = Date.now();
      let i0 = 0;
      const t = Date.now();
      for (;;) {
        if (Date.now() - t > 300_000) {
          this.note(`runs ${ids.join(", ")} not completed within 300 s`);
          return;
        }
        const unfinished = runsIn(home).filter((r) => r.status !== "completed");
        if (unfinished.length === 0) return;
        if (h.ended) {
          this.note(`serve exited by itself (${h.exit?.code}): ${h.proc.err().slice(-400)}`);
          h = await startServe(home);
          t0 = Date.now();
          i0 = 0;
        }
        // The user resumes what is interrupted (and what failed, once noted).
        for (const r of unfinished) {
          if (!["interrupted", "failed", "stopped"].includes(r.status)) continue;
          if (r.status !== "interrupted") this.note(`run ${r.id} ${r.status}: ${r.error?.message}`);
          await (h.serve as ServeHost).client
            .call("runs.resume", { id: r.id })
            .catch((err: Error) => this.note(`runs.resume ${r.id}: ${err.message}`));
        }
        const fault = this.nextFault(quota);
        if (!fault) {
          await sleep(200);
          continue;
        }
        const s = await this.strike(h, home, fault, t0, i0);
        for (const w of h.workers) this.workers.add(w);
        if (!this.landed(quota, fault, "serve", shared, s)) {
          t0 = Date.now();
          i0 = h.feed.list.length;
          continue;
        }
        await sleep(this.rng.int(0, 300));
        if (fault.kind === "host") {
          await h.proc.exited;
          h.serve?.client.close();
          h = await startServe(home);
          i0 = 0;
        } else if (s?.runId) {
          // The host judges its worker's end: wait for the verdict before resuming.
          const runId = s.runId;
          const tv = Date.now();
          while (Date.now() - tv < 30_000 && !h.ended) {
            const st = statusOf(home, runId);
            if (st !== "running" && st !== "paused") break;
            await sleep(20);
          }
          i0 = h.feed.list.length;
        }
        t0 = Date.now();
      }
    } finally {
      for (const w of h.workers) this.workers.add(w);
      await closeServe(h);
    }
  }

  /** Waits for workers whose host was killed (they leave on their own when their channel closes). */
  async reapOrphans(): Promise<void> {
    const t = Date.now();
    for (;;) {
      const left = [...this.workers].filter((w) => isAlive(w));
      if (left.length === 0) break;
      if (Date.now() - t > 10_000) {
        this.note(`workers ${left.join(", ")} still alive 10 s after their episode`);
        for (const w of left) {
          try {
            process.kill(w, "SIGKILL");
          } catch {}
        }
        break;
      }
      await sleep(20);
    }
    this.workers.clear();
  }
}

/** Runs the fault matrix (see the module comment). */
export async function runFaultMatrix(options: MatrixOptions): Promise<MatrixResult> {
  const t0 = performance.now();
  const dir = tempHome("fault-matrix-");
  const m = new Matrix(options, dir);
  const specs = options.specs ?? DEFAULT_SPECS;
  const modes = options.modes ?? ["cli", "serve"];

  // Reference runs: one uninterrupted run per spec.
  const refHome = join(dir, "reference");
  const refs = new Map<number, Reference>();
  for (const spec of specs) {
    const h = startTrain(m.trainArgs(refHome, spec));
    await waitExit(h, 180_000);
    const run = h.runId ? look(refHome, (s) => s.findRun(h.runId as string)) : null;
    if (run?.status !== "completed")
      throw new Error(`reference run of seed ${spec.seed} failed: ${h.proc.err().slice(-600)}`);
    if (h.exit?.code !== 0)
      m.note(`reference ${run.id} completed but train exited ${h.exit?.code}: ${h.proc.err()}`);
    refs.set(spec.seed, reference(refHome, run.id, spec));
  }
  const referenceMs = performance.now() - t0;
  m.log(`references: ${specs.length} runs in ${(referenceMs / 1000).toFixed(1)} s`);

  const maxEpisodes = options.faults * 3 + 5;
  while (m.plan.length > 0 && m.episode < maxEpisodes) {
    m.episode++;
    const mode = m.rng.pick(modes);
    const shared = m.rng.chance(0.5);
    const home = shared ? m.shared : join(dir, `home-${m.episode}`);
    m.homes.add(home);
    const runs = mode === "cli" ? [m.rng.pick(specs)] : specs.length ? pickRuns(m.rng, specs) : [];
    const quota = {
      left: Math.min(
        m.plan.length,
        mode === "cli" ? m.rng.int(2, 3) : Math.min(3, runs.length + m.rng.int(0, 1)),
      ),
    };
    m.log(
      `episode ${m.episode}: ${mode}, ${shared ? "shared" : "fresh"} home, runs ${runs.map((r) => `seed ${r.seed}/${r.epochs} epochs`).join(", ")}, ${quota.left} fault(s)`,
    );
    m.episodes[mode]++;
    if (mode === "cli") await m.cliEpisode(home, runs[0] as RunSpec, quota);
    else await m.serveEpisode(home, runs, quota);
    await m.reapOrphans();
  }
  if (m.plan.length > 0) m.note(`${m.plan.length} planned faults never landed`);

  // Checks.
  const runs: RunCheck[] = [];
  const integrity: { home: string; result: string }[] = [];
  const checked = new Set<string>();
  for (const home of m.homes) {
    const result = sql(home, (db) =>
      (db.pragma("integrity_check") as { integrity_check: string }[])
        .map((r) => r.integrity_check)
        .join("; "),
    );
    integrity.push({ home, result });
    // Chunks, summaries, axis and run_metrics of every run agree (a chunk overlapping another
    // would be a (run, key, step) twice; a summary ahead of or behind its values, a crash's mark).
    const seriesProblems = sql(home, (db) =>
      (db.prepare("SELECT pk, id FROM runs").all() as { pk: number; id: string }[]).flatMap((r) =>
        verifySeries(db, r.pk).map((p) => `${r.id}: ${p}`),
      ),
    );
    for (const run of runsIn(home)) {
      checked.add(run.id);
      const seed = run.seed;
      const ref = refs.get(seed);
      const epochs = typeof run.spec.epochs === "number" ? run.spec.epochs : null;
      const c: RunCheck = {
        id: run.id,
        home,
        status: run.status,
        seed,
        epochs,
        attempts: run.attempt,
        lost: run.status !== "completed",
        gaps: 0,
        duplicates: 0,
        notes: run.status !== "completed" ? [`${run.status}: ${run.error?.message ?? ""}`] : [],
      };
      if (!ref || ref.spec.epochs !== epochs) c.notes.push("no reference for this spec");
      else if (!c.lost) {
        const r = checkRows(metricRows(home, run.id), ref);
        c.gaps = r.gaps;
        c.duplicates = r.duplicates;
        c.notes.push(...r.notes);
        if (run.lastEpoch !== epochs - 1) {
          c.gaps++;
          c.notes.push(`lastEpoch ${run.lastEpoch}`);
        }
      }
      runs.push(c);
    }
    if (seriesProblems.length > 0) {
      runs.push({
        id: "(series)",
        home,
        status: null,
        seed: null,
        epochs: null,
        attempts: 0,
        lost: false,
        gaps: 0,
        duplicates: seriesProblems.length,
        notes: seriesProblems.slice(0, 5),
      });
    }
  }
  for (const [id, home] of m.started) {
    if (checked.has(id)) continue;
    runs.push({
      id,
      home,
      status: null,
      seed: null,
      epochs: null,
      attempts: 0,
      lost: true,
      gaps: 0,
      duplicates: 0,
      notes: ["not in the library"],
    });
  }
  const totals = {
    runsLost: runs.filter((r) => r.lost).length,
    metricGaps: runs.reduce((n, r) => n + r.gaps, 0),
    duplicateRows: runs.reduce((n, r) => n + r.duplicates, 0),
  };
  const ok =
    totals.runsLost + totals.metricGaps + totals.duplicateRows === 0 &&
    integrity.every((i) => i.result === "ok");
  if (ok && !options.keep) rmSync(dir, { recursive: true, force: true });
  return {
    seed: options.seed,
    faults: m.faults,
    missed: m.missed,
    episodes: m.episodes,
    runs,
    integrity,
    totals,
    anomalies: m.anomalies,
    referenceMs,
    wallMs: performance.now() - t0,
    dir,
  };
}

function pickRuns(rng: Rng, specs: readonly RunSpec[]): RunSpec[] {
  const n = rng.pick([1, 2, 2, 3]);
  return Array.from({ length: n }, () => rng.pick(specs));
}

/** The totals line the issue asks for. */
export function totalsLine(r: MatrixResult): string {
  return `runs lost ${r.totals.runsLost}, metric gaps ${r.totals.metricGaps}, duplicate rows ${r.totals.duplicateRows}`;
}

/** Whether every check passed. */
export function passed(r: MatrixResult): boolean {
  return (
    r.totals.runsLost === 0 &&
    r.totals.metricGaps === 0 &&
    r.totals.duplicateRows === 0 &&
    r.integrity.every((i) => i.result === "ok")
  );
}

/** The report: a table per fault kind and moment, the run checks, the totals and the wall time. */
export function formatReport(r: MatrixResult): string {
  const out: string[] = [];
  const attempts = r.runs.reduce((n, c) => n + c.attempts, 0);
  out.push(
    `fault matrix, seed ${r.seed}: ${r.faults.length} faults in ${r.episodes.cli + r.episodes.serve} episodes (${r.episodes.cli} train, ${r.episodes.serve} serve); ${r.missed} kills found their target gone and were retried`,
  );
  out.push("");
  out.push(
    "| target | moment | faults | via train | via serve | last event seen before the kill |",
  );
  out.push("|---|---|---|---|---|---|");
  for (const kind of KINDS) {
    for (const moment of MOMENTS) {
      const list = r.faults.filter((f) => f.kind === kind && f.moment === moment);
      if (list.length === 0) continue;
      const phases = new Map<string, number>();
      for (const f of list) {
        const p = phaseOf(f.seen);
        phases.set(p, (phases.get(p) ?? 0) + 1);
      }
      out.push(
        `| ${kind} | ${moment} | ${list.length} | ${list.filter((f) => f.mode === "cli").length} | ${list.filter((f) => f.mode === "serve").length} | ${[
          ...phases,
        ]
          .map(([p, n]) => `${p} ${n}`)
          .join(", ")} |`,
      );
    }
  }
  out.push("");
  const completed = r.runs.filter((c) => c.status === "completed").length;
  out.push(
    `runs: ${r.runs.filter((c) => c.status !== null).length} in ${r.integrity.length} libraries, ${completed} completed, ${attempts} attempts; integrity_check: ${r.integrity.every((i) => i.result === "ok") ? "ok" : r.integrity.map((i) => `${i.home}: ${i.result}`).join("; ")}`,
  );
  for (const c of r.runs)
    if (c.lost || c.gaps || c.duplicates)
      out.push(`  run ${c.id} (${c.home}): ${c.notes.join("; ")}`);
  for (const a of r.anomalies) out.push(`  note: ${a}`);
  out.push(totalsLine(r));
  out.push(
    `wall time ${(r.wallMs / 1000).toFixed(1)} s (reference runs ${(r.referenceMs / 1000).toFixed(1)} s)`,
  );
  return out.join("\n");
}

function phaseOf(seen: string): string {
  if (seen.startsWith("status running")) return "claimed";
  if (seen.startsWith("status queued")) return "queued";
  if (seen.startsWith("status")) return "after the verdict";
  const word = seen.split(" ")[0] ?? "";
  return (
    (
      {
        nothing: "before start",
        run: "before start",
        start: "loading",
        step: "steps",
        epoch: "epoch rows",
        checkpoint: "checkpoint",
        summary: "summary",
      } as Record<string, string>
    )[word] ?? word
  );
}
