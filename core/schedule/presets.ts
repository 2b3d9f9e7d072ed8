/**
 * Named presets. The paper's four (Sato & Iiduka, section 2): 200 epochs,
 * LR 0.1, batch 128, delta multiplied by gamma = 1/sqrt(2) every 40 epochs,
 * through LR decay, batch growth, or both.
 */
import type { ScheduleInput } from "./spec.js";

export interface Preset {
  name: string;
  title: string;
  description: string;
  schedule: ScheduleInput;
}

const PAPER = { epochs: 200, lr: 0.1, batch: 128, stage: 40 } as const;
const SQRT1_2 = Math.SQRT1_2;

export const PRESETS: readonly Preset[] = [
  {
    name: "paper-constant",
    title: "Constant (paper baseline)",
    description: "LR 0.1 and batch 128 for 200 epochs: delta never decays.",
    schedule: {
      version: 1,
      name: "paper-constant",
      epochs: PAPER.epochs,
      lr: { kind: "constant", lr: PAPER.lr },
      batch: { kind: "constant", size: PAPER.batch },
    },
  },
  {
    name: "paper-lr-decay",
    title: "LR decay (paper)",
    description: "LR x 1/sqrt(2) every 40 epochs, batch fixed at 128: gamma = 0.7071.",
    schedule: {
      version: 1,
      name: "paper-lr-decay",
      epochs: PAPER.epochs,
      lr: { kind: "step", lr: PAPER.lr, stepSize: PAPER.stage, gamma: SQRT1_2 },
      batch: { kind: "constant", size: PAPER.batch },
    },
  },
  {
    name: "paper-batch-growth",
    title: "Batch growth (paper)",
    description: "Batch x 2 every 40 epochs (128 to 2048), LR fixed at 0.1: gamma = 1/sqrt(2).",
    schedule: {
      version: 1,
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
      "LR x sqrt(3)/2 and batch x 1.5 every 40 epochs (128 to 648): gamma = 1/sqrt(2). The paper's best.",
    schedule: {
      version: 1,
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
      "delta / delta_0 = (1 - m/5)^0.5 over 5 stages of 40 epochs (the paper's optimal decay), split evenly between LR decay and batch growth.",
    schedule: {
      version: 1,
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
      "delta / delta_0 = 1 - m/5 over 5 stages of 40 epochs, split evenly between LR decay and batch growth.",
    schedule: {
      version: 1,
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
    description: "CosineAnnealingLR(T_max = 200) from LR 0.1 to 0, batch 128, stepped per epoch.",
    schedule: {
      version: 1,
      name: "cosine",
      epochs: PAPER.epochs,
      lr: { kind: "cosine", lr: PAPER.lr, tMax: PAPER.epochs, etaMin: 0 },
      batch: { kind: "constant", size: PAPER.batch },
    },
  },
  {
    name: "warmup-cosine",
    title: "Linear warmup + cosine",
    description:
      "5 epochs of linear warmup from 1% of LR 0.1, then cosine to 0 over the remaining 195 epochs, updated every step; batch 128.",
    schedule: {
      version: 1,
      name: "warmup-cosine",
      epochs: PAPER.epochs,
      per: "step",
      lr: {
        kind: "warmup",
        epochs: 5,
        startFactor: 0.01,
        schedule: { kind: "cosine", lr: PAPER.lr, tMax: PAPER.epochs - 5, etaMin: 0 },
      },
      batch: { kind: "constant", size: PAPER.batch },
    },
  },
];

export function findPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}
