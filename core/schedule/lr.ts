/**
 * Learning-rate families. Each formula is the closed form of its PyTorch
 * counterpart (torch.optim.lr_scheduler), written over t = epochs since the
 * piece started (fractional when the LR is evaluated per step).
 */
import { interpolate, prefixCount } from "./keyframes.js";
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

/** LR of `spec` at time t (epochs since the piece started). */
export function lrAt(spec: LrSpec, t: number, ctx: LrContext): number {
  return lrFunction(spec, ctx)(t);
}

/**
 * Builds the function t -> LR once, so that evaluating it at every one of
 * tens of thousands of steps does no dispatch or allocation.
 */
export function lrFunction(spec: LrSpec, ctx: LrContext): (t: number) => number {
  switch (spec.kind) {
    case "constant": {
      const lr = spec.lr;
      return () => lr;
    }
    case "step": {
      const { lr, gamma, stepSize } = spec;
      return (t) => lr * gamma ** Math.floor(t / stepSize + EPS);
    }
    case "multistep": {
      const { lr, gamma, milestones } = spec;
      return (t) => {
        // Milestones are strictly increasing (validated): the passed ones are a prefix.
        const passed = prefixCount(milestones.length, (i) => t + EPS >= (milestones[i] as number));
        return lr * gamma ** passed;
      };
    }
    case "exponential": {
      const { lr, gamma } = spec;
      return (t) => lr * gamma ** t;
    }
    case "cosine": {
      const { lr, etaMin, tMax } = spec;
      return (t) => etaMin + ((lr - etaMin) * (1 + Math.cos((Math.PI * t) / tMax))) / 2;
    }
    case "cosine-restarts": {
      const { lr, etaMin, t0, tMult } = spec;
      return (t) => {
        // Walk the cycles: T_i grows by T_mult after each restart.
        let cur = t;
        let len = t0;
        if (tMult === 1) {
          // Equal cycles: jump to the current one (a walk would take t / t0 steps, unbounded for a tiny t0).
          const cycles = Math.floor((cur + EPS) / len);
          if (cycles > 0) cur -= cycles * len;
          if (cur + EPS >= len) cur -= len;
        } else {
          // Cycles grow geometrically: at most log_tMult(t / t0) of them.
          while (cur + EPS >= len) {
            cur -= len;
            len *= tMult;
          }
        }
        if (cur < 0) cur = 0;
        return etaMin + ((lr - etaMin) * (1 + Math.cos((Math.PI * cur) / len))) / 2;
      };
    }
    case "polynomial": {
      const { lr, totalIters, power } = spec;
      return (t) => lr * (1 - Math.min(t, totalIters) / totalIters) ** power;
    }
    case "linear": {
      const { lr, startFactor, endFactor, totalIters } = spec;
      return (t) =>
        lr * (startFactor + ((endFactor - startFactor) * Math.min(t, totalIters)) / totalIters);
    }
    case "onecycle":
      return (t) => oneCycleAt(spec, t, ctx);
    case "keyframes": {
      const { points, interpolation } = spec;
      return (t) => interpolate(points, interpolation, t);
    }
    case "warmup": {
      const inner = lrFunction(spec.schedule, innerContext(ctx, spec.epochs));
      const { epochs, startFactor } = spec;
      const base = inner(0);
      return (t) =>
        t < epochs - EPS
          ? base * (startFactor + ((1 - startFactor) * t) / epochs)
          : inner(t - epochs);
    }
    case "sequence": {
      const starts: number[] = [];
      const fns: ((t: number) => number)[] = [];
      let start = 0;
      for (const piece of spec.pieces) {
        const len = piece.epochs ?? Number.POSITIVE_INFINITY;
        starts.push(start);
        fns.push(
          lrFunction(piece.schedule, {
            timeline: ctx.timeline,
            offset: ctx.offset + start,
            span: Math.min(len, ctx.span - start),
          }),
        );
        start += len;
      }
      return (t) => {
        const i = prefixCount(starts.length - 1, (j) => t >= (starts[j + 1] as number) - EPS);
        return (fns[i] as (t: number) => number)(t - (starts[i] as number));
      };
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
      return baseLr(spec.schedule);
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
