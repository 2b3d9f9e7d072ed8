/**
 * Export a schedule as a self-contained PyTorch module (docs/pytorch-export.md).
 *
 * The module defines BASE_LR, EPOCHS, DATASET_SIZE, DROP_LAST, STEP_EVERY,
 * batch_size_for_epoch(epoch), steps_in_epoch(epoch) and make_scheduler(optimizer).
 * make_scheduler returns the built-in torch.optim.lr_scheduler class when one
 * reproduces the compiler exactly; otherwise a LambdaLR whose function is a
 * Python port of the compiler's closed forms (lr.ts, keyframes.ts,
 * delta-trajectory.ts) with the schedule's numbers inlined. Batch sizes are
 * the compiled ones, written out as a list.
 */
import { type CompiledSchedule, compileSchedule } from "./compile.js";
import type { DeltaSpec, Interpolation, LrSpec, Schedule, SmoothingSpec } from "./spec.js";
import { Timeline } from "./timeline.js";
import { ScheduleError } from "./validate.js";

export interface PyTorchExportOptions {
  /** Number of training examples N (sets the steps of each epoch). */
  datasetSize: number;
  /** Overrides the schedule's dropLast. */
  dropLast?: boolean | undefined;
  /**
   * The run's length in epochs: a schedule relative to the run is resolved
   * to it (default: the document's `epochs`); see CompileOptions.
   */
  epochs?: number | undefined;
  /** For an epoch-time schedule of another length: "truncate" (default) or "fit". */
  fit?: "truncate" | "fit" | undefined;
}

export interface PyTorchSchedulerChoice {
  /** The torch.optim.lr_scheduler class make_scheduler returns, e.g. "StepLR" or "LambdaLR". */
  className: string;
  /** Why that class (one line, also written into the generated code). */
  reason: string;
  /** The lr the optimizer must be built with (BASE_LR in the module). */
  baseLr: number;
}

/** Relative tolerance for "this epoch-valued parameter times the steps per epoch is whole". */
const WHOLE_TOL = 1e-9;
/**
 * Past T_max, CosineAnnealingLR (PyTorch 1.13) switches to a recursive update that
 * divides by 1 + cos(pi (k - 1) / T_max), about (pi / T_max)^2 at the trough, so its
 * rounding error grows like T_max^2 (and with eta_min). Measured against the closed
 * form: T_max = 1,000 stays under 0.03 of the test tolerance for eta_min <= lr, while
 * T_max = 30,000 with eta_min = lr / 2 is 3.9x over. Before T_max it is exact to
 * ~1e-5 of the tolerance even at T_max = 78,200. So when the run goes past T_max we
 * use CosineAnnealingLR only for T_max <= this many scheduler steps and eta_min <= lr.
 */
const COSINE_RECURSIVE_MAX_TMAX = 1000;

/** Which scheduler the export uses for this schedule, and why. */
export function pytorchSchedulerFor(
  input: Schedule | unknown,
  options: PyTorchExportOptions,
): PyTorchSchedulerChoice {
  const compiled = compileSchedule(input, options);
  return plan(compiled).choice;
}

/** The schedule as a runnable Python module (see docs/pytorch-export.md). */
export function exportPyTorch(input: Schedule | unknown, options: PyTorchExportOptions): string {
  const compiled = compileSchedule(input, options);
  const { choice, builtin } = plan(compiled);
  const { schedule } = compiled;
  const E = schedule.epochs;
  const sizes = compiled.epochs.map((r) => r.batchSize);

  const out: string[] = [];
  out.push(docstring(compiled, choice));
  out.push("import math");
  if (!builtin) out.push("from bisect import bisect_right");
  out.push("");
  out.push("import torch");
  out.push("");
  out.push(`# The lr to build the optimizer with: ${baseLrNote(choice)}`);
  out.push(`BASE_LR = ${pyFloat(choice.baseLr)}`);
  out.push(`EPOCHS = ${E}`);
  out.push(`DATASET_SIZE = ${compiled.datasetSize}`);
  out.push(`DROP_LAST = ${compiled.dropLast ? "True" : "False"}`);
  out.push(
    `# Call scheduler.step() after every optimizer step ("step") or once after each epoch ("epoch").`,
  );
  out.push(`STEP_EVERY = ${JSON.stringify(schedule.per)}`);
  out.push("");
  out.push("# Batch size of each epoch, as compiled (rounded and capped).");
  out.push(`BATCH_SIZES = ${pyIntList(sizes)}`);
  out.push("");
  out.push("");
  out.push(
    [
      "def batch_size_for_epoch(epoch):",
      '    """The batch size to build epoch `epoch`\'s DataLoader with."""',
      "    return BATCH_SIZES[min(max(epoch, 0), EPOCHS - 1)]",
      "",
      "",
      "def steps_in_epoch(epoch):",
      '    """Optimizer steps in epoch `epoch` (len of its DataLoader over DATASET_SIZE examples)."""',
      "    b = batch_size_for_epoch(epoch)",
      "    return DATASET_SIZE // b if DROP_LAST else -(-DATASET_SIZE // b)",
    ].join("\n"),
  );
  out.push("");
  out.push("");
  if (builtin) {
    out.push(
      ["def make_scheduler(optimizer):", pyDocstring(choice.reason), `    return ${builtin}`].join(
        "\n",
      ),
    );
  } else {
    out.push(lambdaSection(compiled));
    out.push("");
    out.push("");
    out.push(
      [
        "def make_scheduler(optimizer):",
        pyDocstring(choice.reason),
        "    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)",
      ].join("\n"),
    );
  }
  return `${out.join("\n")}\n`;
}

// --- choosing the scheduler ---

interface Plan {
  choice: PyTorchSchedulerChoice;
  /** Python expression constructing the built-in scheduler, or null for LambdaLR. */
  builtin: string | null;
}

function plan(compiled: CompiledSchedule): Plan {
  const lr = compiled.steps.lr;
  for (let k = 0; k < lr.length; k++) {
    if (!Number.isFinite(lr[k] as number)) {
      throw new ScheduleError([
        {
          path: "lr",
          value: undefined,
          message: `the learning rate is not a finite number at step ${k}; fix the schedule before exporting it`,
        },
      ]);
    }
  }
  const found = builtinFor(compiled);
  if (found) return { choice: found.choice, builtin: found.expr };
  let base = lr[0] as number;
  if (!(base > 0)) {
    base = 0;
    for (let k = 0; k < lr.length; k++) base = Math.max(base, lr[k] as number);
    if (!(base > 0)) base = 1;
  }
  return {
    choice: { className: "LambdaLR", reason: lambdaReason(compiled), baseLr: base },
    builtin: null,
  };
}

/** The steps of every epoch when they are all equal, else null. */
function uniformSteps(compiled: CompiledSchedule): number | null {
  const first = compiled.epochs[0]?.steps as number;
  return compiled.epochs.every((r) => r.steps === first) ? first : null;
}

/** x rounded when it is a whole number >= 1 (within WHOLE_TOL), else null. */
function whole(x: number): number | null {
  const r = Math.round(x);
  return r >= 1 && Math.abs(x - r) <= WHOLE_TOL * Math.max(1, Math.abs(x)) ? r : null;
}

function builtinFor(
  compiled: CompiledSchedule,
): { choice: PyTorchSchedulerChoice; expr: string } | null {
  const { schedule } = compiled;
  const spec = schedule.lr;
  if (!spec || schedule.smoothing) return null;
  const per = schedule.per;
  const S = per === "epoch" ? 1 : uniformSteps(compiled);
  const unitName = per === "epoch" ? "epochs" : "steps";
  const inUnits = (x: number) => (S === null ? null : whole(x * S));
  const scaled = (x: number, u: number) =>
    per === "epoch" ? `${x} epochs` : `${x} epochs x ${S} steps = ${u} steps`;
  const sched = "torch.optim.lr_scheduler";
  const make = (className: string, args: string[], why: string, baseLr: number) => ({
    choice: { className, reason: `${className}: ${why}`, baseLr },
    expr: pyCall(`${sched}.${className}`, ["optimizer", ...args]),
  });
  switch (spec.kind) {
    case "constant":
      return {
        choice: { className: "LambdaLR", reason: "LambdaLR: a constant LR.", baseLr: spec.lr },
        expr: `${sched}.LambdaLR(optimizer, lambda _: 1.0)`,
      };
    case "step": {
      const u = inUnits(spec.stepSize);
      if (u === null) return null;
      return make(
        "StepLR",
        [`step_size=${u}`, `gamma=${pyFloat(spec.gamma)}`],
        `the LR is multiplied by ${spec.gamma} every ${scaled(spec.stepSize, u)}.`,
        spec.lr,
      );
    }
    case "multistep": {
      const us = spec.milestones.map(inUnits);
      if (us.some((u) => u === null)) return null;
      return make(
        "MultiStepLR",
        [`milestones=[${us.join(", ")}]`, `gamma=${pyFloat(spec.gamma)}`],
        `the LR is multiplied by ${spec.gamma} at epochs ${spec.milestones.join(", ")}${per === "step" ? ` (steps ${us.join(", ")})` : ""}.`,
        spec.lr,
      );
    }
    case "exponential": {
      if (S === null) return null;
      const gamma = S === 1 ? pyFloat(spec.gamma) : `${pyFloat(spec.gamma)} ** (1 / ${S})`;
      return make(
        "ExponentialLR",
        [`gamma=${gamma}`],
        per === "epoch"
          ? `the LR is multiplied by ${spec.gamma} every epoch.`
          : `the LR is multiplied by ${spec.gamma} every epoch, i.e. by ${spec.gamma} ** (1 / ${S}) every one of its ${S} steps.`,
        spec.lr,
      );
    }
    case "cosine": {
      const u = inUnits(spec.tMax);
      if (u === null) return null;
      const units = per === "epoch" ? schedule.epochs : compiled.totals.updates;
      // The run records scheduler counts 0 .. units - 1; past T_max the recursive form
      // loses precision when T_max is large (see COSINE_RECURSIVE_MAX_TMAX).
      if (units - 1 > u && (u > COSINE_RECURSIVE_MAX_TMAX || spec.etaMin > spec.lr)) return null;
      return make(
        "CosineAnnealingLR",
        [`T_max=${u}`, `eta_min=${pyFloat(spec.etaMin)}`],
        `cosine from ${spec.lr} to ${spec.etaMin} over T_max = ${scaled(spec.tMax, u)}.`,
        spec.lr,
      );
    }
    case "cosine-restarts": {
      const u = inUnits(spec.t0);
      if (u === null) return null;
      return make(
        "CosineAnnealingWarmRestarts",
        [`T_0=${u}`, `T_mult=${spec.tMult}`, `eta_min=${pyFloat(spec.etaMin)}`],
        `cosine from ${spec.lr} to ${spec.etaMin}, restarting after T_0 = ${scaled(spec.t0, u)}, each cycle ${spec.tMult}x longer.`,
        spec.lr,
      );
    }
    case "polynomial": {
      const u = inUnits(spec.totalIters);
      if (u === null) return null;
      return make(
        "PolynomialLR",
        [`total_iters=${u}`, `power=${pyFloat(spec.power)}`],
        `the LR decays as (1 - t / T)^${spec.power} to 0 over T = ${scaled(spec.totalIters, u)}.`,
        spec.lr,
      );
    }
    case "linear": {
      const u = inUnits(spec.totalIters);
      if (u === null) return null;
      return make(
        "LinearLR",
        [
          `start_factor=${pyFloat(spec.startFactor)}`,
          `end_factor=${pyFloat(spec.endFactor)}`,
          `total_iters=${u}`,
        ],
        `the LR goes linearly from ${spec.startFactor} to ${spec.endFactor} x ${spec.lr} over ${scaled(spec.totalIters, u)}.`,
        spec.lr,
      );
    }
    case "onecycle": {
      // The compiler counts the cycle in scheduler steps over the real steps of each
      // epoch, as OneCycleLR does, so varying steps per epoch are fine here.
      const timeline = new Timeline(
        per,
        Int32Array.from(compiled.epochs, (r) => r.steps),
      );
      const length = spec.epochs ?? schedule.epochs;
      const total = Math.round(timeline.unitsAt(length));
      const units = per === "epoch" ? schedule.epochs : compiled.totals.updates;
      // OneCycleLR raises when stepped more than total_steps times; the run steps it `units` times.
      if (!(total >= 1) || total < units) return null;
      return make(
        "OneCycleLR",
        [
          `max_lr=${pyFloat(spec.maxLr)}`,
          `total_steps=${total}`,
          `pct_start=${pyFloat(spec.pctStart)}`,
          `anneal_strategy=${JSON.stringify(spec.anneal)}`,
          `div_factor=${pyFloat(spec.divFactor)}`,
          `final_div_factor=${pyFloat(spec.finalDivFactor)}`,
          `three_phase=${spec.threePhase ? "True" : "False"}`,
          "cycle_momentum=False",
        ],
        `one cycle over ${total} ${unitName} (${length} epochs); it sets the LR itself (max_lr / div_factor at the start).`,
        spec.maxLr / spec.divFactor,
      );
    }
    default:
      return null;
  }
}

function lambdaReason(compiled: CompiledSchedule): string {
  const { schedule } = compiled;
  const base =
    "LambdaLR: lr_factor(k) is the schedule's LR after k scheduler steps over BASE_LR, from a port of SGD Studio's formulas";
  if (schedule.smoothing) return `${base} (a smoothing-first schedule: no built-in scheduler).`;
  const spec = schedule.lr as LrSpec;
  switch (spec.kind) {
    case "keyframes":
    case "warmup":
    case "sequence":
      return `${base} (${spec.kind}: no single built-in scheduler).`;
    case "onecycle":
      return `${base} (the cycle ends before the run does; OneCycleLR would raise when stepped past it).`;
    case "cosine":
      if (schedule.per === "step" && uniformSteps(compiled) === null) break;
      if (inUnitsOk(compiled, spec.tMax))
        return `${base} (the run goes past T_max, where CosineAnnealingLR's recursive form loses precision at this T_max and eta_min).`;
      break;
    default:
      break;
  }
  if (schedule.per === "step" && uniformSteps(compiled) === null)
    return `${base} (the steps per epoch change with the batch size, so epoch-valued parameters are not a fixed number of steps).`;
  return `${base} (a parameter is not a whole number of ${schedule.per === "step" ? "steps" : "epochs"}).`;
}

function inUnitsOk(compiled: CompiledSchedule, x: number): boolean {
  const S = compiled.schedule.per === "epoch" ? 1 : uniformSteps(compiled);
  return S !== null && whole(x * S) !== null;
}

function baseLrNote(choice: PyTorchSchedulerChoice): string {
  switch (choice.className) {
    case "OneCycleLR":
      return "OneCycleLR overwrites it with max_lr / div_factor.";
    case "LambdaLR":
      return "the LR is BASE_LR * lr_factor(k).";
    case "LinearLR":
      return "LinearLR multiplies it by start_factor .. end_factor.";
    default:
      return `${choice.className} starts from it.`;
  }
}

function docstring(compiled: CompiledSchedule, choice: PyTorchSchedulerChoice): string {
  const { schedule } = compiled;
  const title = schedule.name
    ? `SGD Studio schedule "${pyDocText(schedule.name)}"`
    : "SGD Studio schedule";
  const when =
    schedule.per === "step"
      ? "after every optimizer step (the LR is re-evaluated at every step)"
      : "once after each epoch (the LR is re-evaluated once per epoch)";
  const lines = [
    `"""${title}, exported for PyTorch (torch.optim.lr_scheduler.${choice.className}).`,
    "",
  ];
  if (schedule.description) lines.push(pyDocText(schedule.description), "");
  const { length } = compiled;
  if (length.mode === "relative")
    lines.push(
      `Relative to the run's length, resolved here to ${length.runEpochs} epochs (export again for another length).`,
      "",
    );
  else if (length.mode === "fit")
    lines.push(
      `A ${length.scheduleEpochs}-epoch schedule fitted to a ${length.runEpochs}-epoch run (every time scaled by ${length.runEpochs}/${length.scheduleEpochs}).`,
      "",
    );
  else if (length.mode === "truncate")
    lines.push(
      `The first ${length.runEpochs} epochs of a ${length.scheduleEpochs}-epoch schedule.`,
      "",
    );
  lines.push(
    `${schedule.epochs} epochs over a dataset of ${compiled.datasetSize} examples` +
      `${compiled.dropLast ? " (drop_last=True)" : ""}: ${compiled.totals.updates} optimizer steps.`,
    `Batch size ${batchRange(compiled)}; scheduler.step() is called ${when}.`,
    "",
    "Training loop (with this file saved as lr_schedule.py):",
    "",
    "    import torch",
    "    from lr_schedule import (",
    "        BASE_LR, DROP_LAST, EPOCHS, STEP_EVERY, batch_size_for_epoch, make_scheduler,",
    "    )",
    "",
    "    optimizer = torch.optim.SGD(model.parameters(), lr=BASE_LR)  # lr must be BASE_LR",
    "    scheduler = make_scheduler(optimizer)",
    "    for epoch in range(EPOCHS):",
    "        # The batch size may change at epoch boundaries: rebuild the loader each epoch.",
    "        loader = torch.utils.data.DataLoader(",
    "            train_set, batch_size=batch_size_for_epoch(epoch), shuffle=True, drop_last=DROP_LAST",
    "        )",
    "        for inputs, targets in loader:  # steps_in_epoch(epoch) batches",
    "            optimizer.zero_grad()",
    "            loss_fn(model(inputs), targets).backward()",
    "            optimizer.step()",
    '            if STEP_EVERY == "step":',
    "                scheduler.step()",
    '        if STEP_EVERY == "epoch":',
    "            scheduler.step()",
    "",
    "train_set must have DATASET_SIZE examples (the LR clock counts the steps of each",
    "epoch); for another dataset size, export the schedule again.",
    '"""',
  );
  return lines.join("\n");
}

function batchRange(compiled: CompiledSchedule): string {
  const sizes = compiled.epochs.map((r) => r.batchSize);
  const lo = Math.min(...sizes);
  const hi = Math.max(...sizes);
  return lo === hi
    ? String(lo)
    : `${compiled.totals.initialBatch} to ${compiled.totals.finalBatch}`;
}

// --- the LambdaLR port ---

interface NodeContext {
  /** Absolute epoch at which this piece starts. */
  offset: number;
  /** Length of this piece in epochs. */
  span: number;
}

/** Emits one Python function per node of the LR tree, plus the helpers they use. */
class LrEmitter {
  readonly functions: string[] = [];
  needsInterpolate = false;
  needsOneCycle = false;
  needsUnits = false;
  private count = 0;

  constructor(private readonly timeline: Timeline) {}

  /** Emits `name(t)` for spec; returns its name. */
  emit(spec: LrSpec, ctx: NodeContext, name = `_lr_${++this.count}`): string {
    const body: string[] = [];
    let doc: string;
    switch (spec.kind) {
      case "constant":
        doc = `Constant ${spec.lr}.`;
        body.push(`return ${pyFloat(spec.lr)}`);
        break;
      case "step":
        doc = `StepLR: ${spec.lr} x ${spec.gamma} every ${spec.stepSize} epochs.`;
        body.push(
          `return ${pyFloat(spec.lr)} * ${pyFloat(spec.gamma)} ** math.floor(t / ${pyNum(spec.stepSize)} + EPS)`,
        );
        break;
      case "multistep":
        doc = `MultiStepLR: ${spec.lr} x ${spec.gamma} at each milestone.`;
        body.push(
          `passed = sum(1 for m in (${spec.milestones.map(pyNum).join(", ")},) if t + EPS >= m)`,
          `return ${pyFloat(spec.lr)} * ${pyFloat(spec.gamma)} ** passed`,
        );
        break;
      case "exponential":
        doc = `ExponentialLR: ${spec.lr} x ${spec.gamma} per epoch.`;
        body.push(`return ${pyFloat(spec.lr)} * ${pyFloat(spec.gamma)} ** t`);
        break;
      case "cosine": {
        doc = `CosineAnnealingLR: ${spec.lr} to ${spec.etaMin} over ${spec.tMax} epochs.`;
        const eta = pyFloat(spec.etaMin);
        body.push(
          `return ${eta} + (${pyFloat(spec.lr)} - ${eta}) * (1 + math.cos(math.pi * t / ${pyNum(spec.tMax)})) / 2`,
        );
        break;
      }
      case "cosine-restarts": {
        doc = `CosineAnnealingWarmRestarts: ${spec.lr} to ${spec.etaMin}, first cycle ${spec.t0} epochs, then x ${spec.tMult}.`;
        const eta = pyFloat(spec.etaMin);
        body.push(
          `cur, length = t, ${pyNum(spec.t0)}`,
          "while cur + EPS >= length:  # walk the cycles",
          "    cur -= length",
          `    length *= ${spec.tMult}`,
          "cur = max(cur, 0)",
          `return ${eta} + (${pyFloat(spec.lr)} - ${eta}) * (1 + math.cos(math.pi * cur / length)) / 2`,
        );
        break;
      }
      case "polynomial": {
        doc = `PolynomialLR: ${spec.lr} x (1 - t / ${spec.totalIters})^${spec.power}.`;
        const T = pyNum(spec.totalIters);
        body.push(
          `return ${pyFloat(spec.lr)} * (1 - min(t, ${T}) / ${T}) ** ${pyFloat(spec.power)}`,
        );
        break;
      }
      case "linear": {
        doc = `LinearLR: ${spec.lr} x (${spec.startFactor} to ${spec.endFactor}) over ${spec.totalIters} epochs.`;
        const T = pyNum(spec.totalIters);
        const sf = pyFloat(spec.startFactor);
        body.push(
          `return ${pyFloat(spec.lr)} * (${sf} + (${pyFloat(spec.endFactor)} - ${sf}) * min(t, ${T}) / ${T})`,
        );
        break;
      }
      case "onecycle": {
        this.needsOneCycle = true;
        this.needsUnits = true;
        const length = spec.epochs ?? ctx.span;
        const startUnits = this.timeline.unitsAt(ctx.offset);
        const total = Math.round(this.timeline.unitsAt(ctx.offset + length) - startUnits);
        const unit = this.timeline.per === "step" ? "optimizer steps" : "epochs";
        doc = `OneCycleLR over ${total} ${unit} (${length} epochs from epoch ${ctx.offset}).`;
        const clock = ctx.offset === 0 ? "t" : `${pyNum(ctx.offset)} + t`;
        const since = startUnits === 0 ? "" : ` - ${pyNum(startUnits)}`;
        body.push(
          `step = js_round(units_at(${clock})${since})`,
          "return one_cycle(",
          `    step, ${total}, max_lr=${pyFloat(spec.maxLr)}, pct_start=${pyFloat(spec.pctStart)}, anneal=${JSON.stringify(spec.anneal)},`,
          `    div_factor=${pyFloat(spec.divFactor)}, final_div_factor=${pyFloat(spec.finalDivFactor)}, three_phase=${spec.threePhase ? "True" : "False"},`,
          ")",
        );
        break;
      }
      case "keyframes":
        this.needsInterpolate = true;
        doc = `Keyframes (${spec.interpolation} between points unless a point says otherwise).`;
        body.push(
          `return interpolate(${keyframeList(spec.points)}, ${JSON.stringify(spec.interpolation)}, t)`,
        );
        break;
      case "warmup": {
        const inner = this.emit(spec.schedule, {
          offset: ctx.offset + spec.epochs,
          span: ctx.span - spec.epochs,
        });
        doc = `Linear warmup over ${spec.epochs} epochs from ${spec.startFactor} x ${inner}(0), then ${inner}.`;
        const sf = pyFloat(spec.startFactor);
        const w = pyNum(spec.epochs);
        body.push(
          `if t < ${w} - EPS:`,
          `    return ${inner}(0) * (${sf} + (1 - ${sf}) * t / ${w})`,
          `return ${inner}(t - ${w})`,
        );
        break;
      }
      case "sequence": {
        doc = `${spec.pieces.length} pieces end to end; each counts time from its own start.`;
        let start = 0;
        spec.pieces.forEach((piece, i) => {
          const len = piece.epochs ?? Number.POSITIVE_INFINITY;
          const last = i === spec.pieces.length - 1;
          const child = this.emit(piece.schedule, {
            offset: ctx.offset + start,
            span: Math.min(len, ctx.span - start),
          });
          const shifted = start === 0 ? "t" : `t - ${pyNum(start)}`;
          if (last) {
            body.push(`return ${child}(${shifted})  # from epoch ${start}`);
          } else {
            body.push(
              `if t < ${pyNum(start + len)} - EPS:  # epochs [${start}, ${start + len})`,
              `    return ${child}(${shifted})`,
            );
          }
          start += len;
        });
        break;
      }
    }
    this.functions.push(pyFunction(name, "t", doc, body));
    return name;
  }
}

function lambdaSection(compiled: CompiledSchedule): string {
  const { schedule } = compiled;
  const per = schedule.per;
  const steps = Int32Array.from(compiled.epochs, (r) => r.steps);
  const timeline = new Timeline(per, steps);
  const emitter = new LrEmitter(timeline);
  const sm = schedule.smoothing;
  if (sm) smoothingFunction(sm, schedule.epochs, emitter);
  else emitter.emit(schedule.lr as LrSpec, { offset: 0, span: schedule.epochs }, "lr_at");

  const preamble = [
    "# --- LR formulas, ported from SGD Studio (core/schedule/lr.ts) ---",
    "",
    "# Guards floor() and comparisons against 2.9999999 at an exact boundary.",
    "EPS = 1e-9",
  ];
  if (per === "step") {
    preamble.push(
      "",
      "# Optimizer steps taken before each epoch (EPOCHS + 1 entries).",
      "STEPS_BEFORE = [0]",
      "for _e in range(EPOCHS):",
      "    STEPS_BEFORE.append(STEPS_BEFORE[-1] + steps_in_epoch(_e))",
    );
  }
  const parts: string[] = [preamble.join("\n")];
  if (per === "step") {
    parts.push(
      pyFunction(
        "clock",
        "k",
        "(epoch, t) of the k-th optimizer step: t = epoch + i / steps_in_epoch(epoch) at its i-th step.",
        [
          "epoch = min(bisect_right(STEPS_BEFORE, k) - 1, EPOCHS - 1)",
          "i = k - STEPS_BEFORE[epoch]",
          "return epoch, epoch + i / steps_in_epoch(epoch)",
        ],
      ),
    );
  } else {
    parts.push(
      pyFunction("clock", "k", "(epoch, t) after k scheduler steps: one per epoch, so t = k.", [
        "return min(k, EPOCHS - 1), float(k)",
      ]),
    );
  }
  if (emitter.needsUnits) {
    parts.push(
      pyFunction(
        "units_at",
        "t",
        per === "step"
          ? "Optimizer steps elapsed at fractional epoch t (OneCycleLR counts steps)."
          : "Scheduler steps elapsed at epoch t: one per epoch.",
        per === "step"
          ? [
              "if t >= EPOCHS:  # past the end: extend with the last epoch's steps",
              "    return STEPS_BEFORE[EPOCHS] + (t - EPOCHS) * steps_in_epoch(EPOCHS - 1)",
              "e = math.floor(t)",
              "return STEPS_BEFORE[e] + (t - e) * steps_in_epoch(e)",
            ]
          : ["return t"],
      ),
    );
    parts.push(
      pyFunction("js_round", "x", "Round half up, as JavaScript's Math.round.", [
        "return math.floor(x + 0.5)",
      ]),
    );
  }
  if (emitter.needsOneCycle) parts.push(ONE_CYCLE_PY);
  if (emitter.needsInterpolate) parts.push(INTERPOLATE_PY);
  parts.push(...emitter.functions);
  const call = sm ? "lr_at(t, epoch)" : "lr_at(t)";
  parts.push(
    pyFunction(
      "lr_factor",
      "k",
      "LambdaLR's factor after k scheduler steps: the schedule's LR over BASE_LR.",
      [sm ? "epoch, t = clock(k)" : "_, t = clock(k)", `return ${call} / BASE_LR`],
    ),
  );
  return parts.join("\n\n\n").replace(/\n{4,}/g, "\n\n\n");
}

function smoothingFunction(sm: SmoothingSpec, totalEpochs: number, emitter: LrEmitter): void {
  emitter.functions.push(deltaFunction(sm.delta, totalEpochs, emitter));
  const s = pyFloat(sm.split);
  const b0 = String(sm.batch);
  emitter.functions.push(
    pyFunction(
      "lr_at",
      "t, epoch",
      `Smoothing-first: delta / delta_0 = delta_ratio(t), split ${sm.split} to batch growth; ` +
        "the LR keeps lr / sqrt(b) on the trajectory with the batch actually used.",
      [
        "r = delta_ratio(t)",
        "batch = batch_size_for_epoch(epoch)",
        "# The batch the split asks for (infinite at r = 0, as in JavaScript).",
        `ideal = ${b0} * r ** (-2 * ${s}) if r > 0 else math.inf`,
        "if abs(batch - ideal) <= 1e-13 * ideal:",
        `    return ${pyFloat(sm.lr)} * r ** (1 - ${s})`,
        `return ${pyFloat(sm.lr)} * r * math.sqrt(batch / ${b0})`,
      ],
    ),
  );
}

function deltaFunction(spec: DeltaSpec, E: number, emitter: LrEmitter): string {
  switch (spec.kind) {
    case "stagewise":
      return pyFunction(
        "delta_ratio",
        "t",
        `delta / delta_0: x ${spec.gamma} every ${spec.every} epochs.`,
        [`return ${pyFloat(spec.gamma)} ** math.floor(t / ${pyNum(spec.every)} + EPS)`],
      );
    case "polynomial":
      if (spec.stages !== undefined) {
        return pyFunction(
          "delta_ratio",
          "t",
          `delta / delta_0 = (1 - m / ${spec.stages})^${spec.power} in stage m of ${spec.stages} over ${E} epochs.`,
          [
            `m = min(${spec.stages} - 1, math.floor(t * ${spec.stages} / ${E} + EPS))`,
            `return (1 - m / ${spec.stages}) ** ${pyFloat(spec.power)}`,
          ],
        );
      }
      return pyFunction("delta_ratio", "t", `delta / delta_0 = (1 - t / ${E})^${spec.power}.`, [
        `return max(0.0, 1 - t / ${E}) ** ${pyFloat(spec.power)}`,
      ]);
    case "keyframes":
      emitter.needsInterpolate = true;
      return pyFunction(
        "delta_ratio",
        "t",
        "delta / delta_0 from keyframes (divided by the first point's value).",
        [
          `return interpolate(${keyframeList(spec.points)}, ${JSON.stringify(spec.interpolation)}, t) / ${pyFloat(
            (spec.points[0] as { value: number }).value,
          )}`,
        ],
      );
  }
}

const ONE_CYCLE_PY = `def one_cycle(step, total, max_lr, pct_start, anneal, div_factor, final_div_factor, three_phase):
    """OneCycleLR's LR at scheduler step \`step\` of a \`total\`-step cycle (its min_lr after the end)."""
    initial = max_lr / div_factor
    min_lr = initial / final_div_factor
    if three_phase:
        phases = [
            (pct_start * total - 1, initial, max_lr),
            (2 * pct_start * total - 2, max_lr, initial),
            (total - 1, initial, min_lr),
        ]
    else:
        phases = [(pct_start * total - 1, initial, max_lr), (total - 1, max_lr, min_lr)]
    if step > total - 1:
        return min_lr
    start = 0
    for i, (end, lr_from, lr_to) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            pct = (step - start) / (end - start)
            if anneal == "cos":
                return lr_to + (lr_from - lr_to) / 2 * (math.cos(math.pi * pct) + 1)
            return (lr_to - lr_from) * pct + lr_from
        start = end
    return min_lr`;

const INTERPOLATE_PY = `def interpolate(points, lane, t):
    """Keyframe curve at epoch t; points are (epoch, value, interpolation or None).

    The segment from point i to i + 1 uses point i's interpolation, else the lane's;
    before the first point and after the last the curve holds the nearest value.
    """
    if t <= points[0][0]:
        return points[0][1]
    i = bisect_right([p[0] for p in points], t) - 1
    if i == len(points) - 1:
        return points[i][1]
    (ea, a, how), (eb, b, _) = points[i], points[i + 1]
    f = (t - ea) / (eb - ea)
    how = how or lane
    if how == "linear":
        return a + (b - a) * f
    if how == "log":
        return math.exp(math.log(a) + (math.log(b) - math.log(a)) * f)
    if how == "cosine":
        return b + (a - b) * (1 + math.cos(math.pi * f)) / 2
    return a  # hold`;

// --- Python text helpers ---

/** A Python float literal that parses to exactly x. */
function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'float("nan")';
  if (x === Number.POSITIVE_INFINITY) return 'float("inf")';
  if (x === Number.NEGATIVE_INFINITY) return '-float("inf")';
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** A Python number literal for an epoch-like value (an int when whole). */
function pyNum(x: number): string {
  if (!Number.isFinite(x)) return pyFloat(x);
  return Number.isInteger(x) && Math.abs(x) < 2 ** 53 ? String(x) : pyFloat(x);
}

/** A Python list of ints: run-length (`[128] * 40 + [256] * 40`) when that is short. */
function pyIntList(xs: readonly number[]): string {
  const runs: { value: number; count: number }[] = [];
  for (const x of xs) {
    const last = runs[runs.length - 1];
    if (last && last.value === x) last.count++;
    else runs.push({ value: x, count: 1 });
  }
  if (runs.length <= 8) {
    return runs
      .map((r) => (r.count === 1 ? `[${r.value}]` : `[${r.value}] * ${r.count}`))
      .join(" + ");
  }
  const lines: string[] = [];
  let line = "";
  for (const x of xs) {
    const item = `${x}, `;
    if (line.length + item.length > 92) {
      lines.push(line.trimEnd());
      line = "";
    }
    line += item;
  }
  if (line) lines.push(line.trimEnd());
  return `[\n${lines.map((l) => `    ${l}`).join("\n")}\n]`;
}

function keyframeList(
  points: readonly { epoch: number; value: number; interpolation?: Interpolation | undefined }[],
): string {
  const items = points.map(
    (p) =>
      `(${pyNum(p.epoch)}, ${pyFloat(p.value)}, ${p.interpolation ? JSON.stringify(p.interpolation) : "None"})`,
  );
  return `[${items.join(", ")}]`;
}

function pyFunction(name: string, args: string, doc: string, body: readonly string[]): string {
  return [`def ${name}(${args}):`, pyDocstring(doc), ...body.map((l) => `    ${l}`)].join("\n");
}

/** A function docstring, indented 4, wrapped at 92 columns. */
function pyDocstring(text: string): string {
  const words = pyDocText(text).split(" ");
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line && line.length + 1 + w.length > 84) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  lines.push(line);
  if (lines.length === 1) return `    """${lines[0]}"""`;
  return [`    """${lines[0]}`, ...lines.slice(1).map((l) => `    ${l}`), '    """'].join("\n");
}

/** `callee(arg, ...)`, one argument per line when it does not fit in 92 columns. */
function pyCall(callee: string, args: readonly string[]): string {
  const flat = `${callee}(${args.join(", ")})`;
  if (flat.length <= 84) return flat;
  return `${callee}(\n${args.map((a) => `        ${a},`).join("\n")}\n    )`;
}

/** Text safe inside a triple-quoted Python string. */
function pyDocText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"""/g, '\\"\\"\\"').replace(/"$/, '\\"');
}
