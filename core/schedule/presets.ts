/**
 * Named presets. The paper's four (Sato & Iiduka, section 2): LR 0.1, batch
 * 128, delta multiplied by gamma = 1/sqrt(2) at each of 5 equal stages (every
 * 40 epochs of the paper's 200), through LR decay, batch growth, or both.
 *
 * Every preset is relative to the run (`time: "run"`, times are fractions of
 * it): a 5-epoch run goes through the same 5 stages as a 200-epoch one. At
 * their default length, 200 epochs, they give exactly the values of the
 * paper's epoch-time schedules (presets.test.ts compares them).
 */
import type { ScheduleInput } from "./spec.js";

export interface Preset {
  name: string;
  title: string;
  description: string;
  schedule: ScheduleInput;
}

/** stage: a fifth of the run (40 of 200 epochs). */
const PAPER = { epochs: 200, lr: 0.1, batch: 128, stage: 1 / 5 } as const;
/** The warmup of warmup-cosine: 5 of the default 200 epochs. */
const WARMUP = 5 / 200;
const SQRT1_2 = Math.SQRT1_2;

export const PRESETS: readonly Preset[] = [
  {
    name: "paper-constant",
    title: "Constant (paper baseline)",
    description: "LR 0.1 and batch 128 for the whole run: delta never decays.",
    schedule: {
      version: 2,
      time: "run",
      name: "paper-constant",
      epochs: PAPER.epochs,
      lr: { kind: "constant", lr: PAPER.lr },
      batch: { kind: "constant", size: PAPER.batch },
    },
  },
  {
    name: "paper-lr-decay",
    title: "LR decay (paper)",
    description:
      "LR x 1/sqrt(2) at each fifth of the run (every 40 epochs of 200), batch fixed at 128: gamma = 0.7071.",
    schedule: {
      version: 2,
      time: "run",
      name: "paper-lr-decay",
      epochs: PAPER.epochs,
      lr: { kind: "step", lr: PAPER.lr, stepSize: PAPER.stage, gamma: SQRT1_2 },
      batch: { kind: "constant", size: PAPER.batch },
    },
  },
  {
    name: "paper-batch-growth",
    title: "Batch growth (paper)",
    description:
      "Batch x 2 at each fifth of the run (128 to 2048), LR fixed at 0.1: gamma = 1/sqrt(2).",
    schedule: {
      version: 2,
      time: "run",
      name: "paper-batch-growth",
      epochs: PAPER.epochs,
      lr: { kind: "constant", lr: PAPER.lr },
      batch: { kind: "step", size: PAPER.batch, factor: 2, every: PAPER.stage },
    },
  },
  {
    name: "paper-hybrid",
    title: "LR decay + batch growth (paper)",
    description:
      "LR x sqrt(3)/2 and batch x 1.5 at each fifth of the run (128 to 648): gamma = 1/sqrt(2). The paper's best.",
    schedule: {
      version: 2,
      time: "run",
      name: "paper-hybrid",
      epochs: PAPER.epochs,
      lr: { kind: "step", lr: PAPER.lr, stepSize: PAPER.stage, gamma: Math.sqrt(3) / 2 },
      batch: { kind: "step", size: PAPER.batch, factor: 1.5, every: PAPER.stage },
    },
  },
  {
    name: "poly-delta-0.5",
    title: "Polynomial delta decay, p = 0.5",
    description:
      "delta / delta_0 = (1 - m/5)^0.5 over 5 equal stages of the run (the paper's optimal decay), split evenly between LR decay and batch growth.",
    schedule: {
      version: 2,
      time: "run",
      name: "poly-delta-0.5",
      epochs: PAPER.epochs,
      smoothing: {
        delta: { kind: "polynomial", power: 0.5, stages: 5 },
        split: 0.5,
        lr: PAPER.lr,
        batch: PAPER.batch,
      },
    },
  },
  {
    name: "poly-delta-1",
    title: "Polynomial delta decay, p = 1",
    description:
      "delta / delta_0 = 1 - m/5 over 5 equal stages of the run, split evenly between LR decay and batch growth.",
    schedule: {
      version: 2,
      time: "run",
      name: "poly-delta-1",
      epochs: PAPER.epochs,
      smoothing: {
        delta: { kind: "polynomial", power: 1, stages: 5 },
        split: 0.5,
        lr: PAPER.lr,
        batch: PAPER.batch,
      },
    },
  },
  {
    name: "cosine",
    title: "Cosine annealing",
    description:
      "CosineAnnealingLR(T_max = the run's length) from LR 0.1 to 0, batch 128, stepped per epoch.",
    schedule: {
      version: 2,
      time: "run",
      name: "cosine",
      epochs: PAPER.epochs,
      lr: { kind: "cosine", lr: PAPER.lr, tMax: 1, etaMin: 0 },
      batch: { kind: "constant", size: PAPER.batch },
    },
  },
  {
    name: "warmup-cosine",
    title: "Linear warmup + cosine",
    description:
      "Linear warmup from 1% of LR 0.1 over the first 2.5% of the run (5 of 200 epochs), then cosine to 0 over the rest, updated every step; batch 128.",
    schedule: {
      version: 2,
      time: "run",
      name: "warmup-cosine",
      epochs: PAPER.epochs,
      per: "step",
      lr: {
        kind: "warmup",
        epochs: WARMUP,
        startFactor: 0.01,
        schedule: { kind: "cosine", lr: PAPER.lr, tMax: 1 - WARMUP, etaMin: 0 },
      },
      batch: { kind: "constant", size: PAPER.batch },
    },
  },
];

export function findPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}
