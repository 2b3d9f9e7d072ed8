/**
 * Built-in sweeps a user opens (`sgd-studio sweep templates --show NAME`),
 * shrinks (`sweep create --template NAME --epochs 2 --model mlp ...`) and runs.
 *
 * paper-grid: the paper's setting (Sato & Iiduka; docs/paper.md of the team):
 * ResNet-18 on CIFAR-100, plain SGD, 200 epochs in 5 stages, its four
 * schedules (constant, LR decay, batch growth, hybrid: the presets), over a
 * learning-rate x batch-size grid. The team's summary of the paper gives the
 * schedules' LR 0.1 and batch 128 and that the delta study covered 156 runs
 * over (LR, batch), but not the grid's values; this grid is centred on
 * 0.1 x 128 in factors of 2 (5 x 5 per schedule, 100 runs), and says so.
 */
import type { SweepTemplate } from "../api/sweep.js";

const PAPER_SCHEDULES = ["paper-constant", "paper-lr-decay", "paper-batch-growth", "paper-hybrid"];

export const SWEEP_TEMPLATES: readonly SweepTemplate[] = [
  {
    name: "paper-grid",
    title: "The paper's grid: 4 schedules x LR x batch (ResNet-18, CIFAR-100, 200 epochs)",
    description:
      "The four schedules of Sato & Iiduka (constant, LR decay, batch growth, hybrid; 5 stages, gamma = 1/sqrt(2)) over LR 0.025-0.4 x batch 32-512 (factors of 2 around the paper's 0.1 x 128), plain SGD, 200 epochs, seed 0: 100 runs. Shrink it with --epochs, --model, --dataset, --train-limit.",
    spec: {
      version: 1,
      name: "paper-grid",
      description:
        "Final test accuracy against delta for the paper's four schedules over an LR x batch grid.",
      method: "grid",
      base: {
        dataset: "cifar100",
        model: "resnet18",
        schedule: "paper-constant",
        epochs: 200,
        optimizer: { kind: "sgd" },
      },
      axes: {
        schedule: PAPER_SCHEDULES,
        lr: { range: [0.025, 0.4], step: 2, scale: "log" },
        batchSize: { range: [32, 512], step: 2, scale: "log", integer: true },
      },
      seeds: [0],
    },
  },
  {
    name: "paper-schedules",
    title: "The paper's four schedules at LR 0.1, batch 128, 3 seeds",
    description:
      "Constant, LR decay, batch growth and hybrid at the paper's LR 0.1 and batch 128, 200 epochs, 3 seeds (the ordering experiment): 12 runs.",
    spec: {
      version: 1,
      name: "paper-schedules",
      method: "grid",
      base: { dataset: "cifar100", model: "resnet18", schedule: "paper-constant", epochs: 200 },
      axes: { schedule: PAPER_SCHEDULES },
      seeds: 3,
    },
  },
  {
    name: "delta-quick",
    title: "Delta swept directly, mlp on the embedded data (minutes on a laptop)",
    description:
      "delta from 0.005 to 0.16 (6 values, log) at batch 32 and 128; the LR follows from delta = lr * C / sqrt(b) with C estimated first. 2 epochs, 2 seeds: 24 runs.",
    spec: {
      version: 1,
      name: "delta-quick",
      method: "grid",
      base: { dataset: "default", model: "mlp", schedule: "paper-constant", epochs: 2 },
      axes: {
        delta: { range: [0.005, 0.16], count: 6, scale: "log" },
        batchSize: [32, 128],
      },
      seeds: 2,
      delta: {},
    },
  },
];

export function findSweepTemplate(name: string): SweepTemplate | undefined {
  return SWEEP_TEMPLATES.find((t) => t.name === name);
}
