/**
 * Learning-rate families. Each formula is the closed form of its PyTorch
 * counterpart (torch.optim.lr_scheduler), written over t = epochs since the
 * piece started (fractional when the LR is evaluated per step).
 */
import { interpolate } from "./keyframes.js";
import type { LrSpec } from "./spec.js";
import type { Timeline } from "./timeline.js";

/** Guards floor() against 2.9999999 at an exact boundary. */
const EPS = 1e-9;

export interface LrContext {
  timeline: Timeline;
  /** Absolute epoch at which this piece starts. */
  offset: number;
  /** Length of this piece in epochs (Infinity for an open-ended last piece). */
  span: number;
}

export function lrAt(spec: LrSpec, t: number, ctx: LrContext): number {
  switch (spec.kind) {
    case "constant":
      return spec.lr;
    case "step":
      return spec.lr * spec.gamma ** Math.floor(t / spec.stepSize + EPS);
    case "multistep": {
      let passed = 0;
      for (const m of spec.milestones) if (t + EPS >= m) passed++;
      return spec.lr * spec.gamma ** passed;
    }
    case "exponential":
      return spec.lr * spec.gamma ** t;
    case "cosine":
      return spec.etaMin + ((spec.lr - spec.etaMin) * (1 + Math.cos((Math.PI * t) / spec.tMax))) / 2;
    case "cosine-restarts": {
      // Walk the cycles: T_i grows by T_mult after each restart.
      let cur = t;
      let len = spec.t0;
      while (cur + EPS >= len) {
        cur -= len;
        len *= spec.tMult;
      }
      if (cur < 0) cur = 0;
      return spec.etaMin + ((spec.lr - spec.etaMin) * (1 + Math.cos((Math.PI * cur) / len))) / 2;
    }
    case "polynomial":
      return spec.lr * (1 - Math.min(t, spec.totalIters) / spec.totalIters) ** spec.power;
    case "linear":
      return (
        spec.lr *
        (spec.startFactor +
          ((spec.endFactor - spec.startFactor) * Math.min(t, spec.totalIters)) / spec.totalIters)
      );
    case "onecycle":
      return oneCycleAt(spec, t, ctx);
    case "keyframes":
      return interpolate(spec.points, spec.interpolation, t);
    case "warmup": {
      const base = lrAt(spec.then, 0, innerContext(ctx, spec.epochs));
      if (t < spec.epochs - EPS) {
        return base * (spec.startFactor + ((1 - spec.startFactor) * t) / spec.epochs);
      }
      return lrAt(spec.then, t - spec.epochs, innerContext(ctx, spec.epochs));
    }
    case "sequence": {
      let start = 0;
      for (let i = 0; i < spec.pieces.length; i++) {
        const piece = spec.pieces[i] as (typeof spec.pieces)[number];
        const len = piece.epochs ?? Number.POSITIVE_INFINITY;
        const last = i === spec.pieces.length - 1;
        if (last || t < start + len - EPS) {
          const span = Math.min(len, ctx.span - start);
          return lrAt(piece.schedule, t - start, {
            timeline: ctx.timeline,
            offset: ctx.offset + start,
            span,
          });
        }
        start += len;
      }
      throw new Error("unreachable: sequence has no pieces");
    }
  }
}

function innerContext(ctx: LrContext, shift: number): LrContext {
  return { timeline: ctx.timeline, offset: ctx.offset + shift, span: ctx.span - shift };
}

/**
 * The schedule's base LR (PyTorch's base_lr): the LR it starts from, except
 * that a warmup's base is the LR it warms up to and one-cycle's is max_lr.
 * delta_0 is measured at this LR when C is unknown.
 */
export function baseLr(spec: LrSpec): number {
  switch (spec.kind) {
    case "onecycle":
      return spec.maxLr;
    case "keyframes":
      return (spec.points[0] as { value: number }).value;
    case "warmup":
      return baseLr(spec.then);
    case "sequence":
      return baseLr((spec.pieces[0] as { schedule: LrSpec }).schedule);
    default:
      return spec.lr;
  }
}

type OneCycle = Extract<LrSpec, { kind: "onecycle" }>;

/**
 * OneCycleLR, counted in scheduler steps as PyTorch does: total_steps is the
 * number of units (epochs or optimizer steps) the cycle spans.
 */
function oneCycleAt(spec: OneCycle, t: number, ctx: LrContext): number {
  const length = spec.epochs ?? ctx.span;
  const { timeline, offset } = ctx;
  const startUnits = timeline.unitsAt(offset);
  const total = Math.round(timeline.unitsAt(offset + length) - startUnits);
  const step = Math.round(timeline.unitsAt(offset + t) - startUnits);
  const initial = spec.maxLr / spec.divFactor;
  const min = initial / spec.finalDivFactor;
  const phases = spec.threePhase
    ? [
        { end: spec.pctStart * total - 1, from: initial, to: spec.maxLr },
        { end: 2 * spec.pctStart * total - 2, from: spec.maxLr, to: initial },
        { end: total - 1, from: initial, to: min },
      ]
    : [
        { end: spec.pctStart * total - 1, from: initial, to: spec.maxLr },
        { end: total - 1, from: spec.maxLr, to: min },
      ];
  if (step > total - 1) return min;
  let start = 0;
  for (let i = 0; i < phases.length; i++) {
    const phase = phases[i] as (typeof phases)[number];
    if (step <= phase.end || i === phases.length - 1) {
      const pct = (step - start) / (phase.end - start);
      return spec.anneal === "cos"
        ? phase.to + ((phase.from - phase.to) / 2) * (Math.cos(Math.PI * pct) + 1)
        : (phase.to - phase.from) * pct + phase.from;
    }
    start = phase.end;
  }
  return min;
}
