/**
 * The designer's state outside its component, so that switching to another
 * view and back keeps the document, its undo history and the view settings;
 * the document is also kept in localStorage for the next visit.
 */
import type { AxisUnit } from "./axis";
import { History } from "./history";
import { sameDoc } from "./state";
import type { Doc, LaneId } from "./types";

const STORAGE_KEY = "sgd-studio.designer.doc";

/** The paper's hybrid (LR x sqrt(3)/2 and batch x 1.5 every 40 epochs): what a new user starts from. */
export const STARTER: Doc = {
  version: 1,
  name: "paper-hybrid",
  epochs: 200,
  lr: { kind: "step", lr: 0.1, stepSize: 40, gamma: Math.sqrt(3) / 2 },
  batch: { kind: "step", size: 128, factor: 1.5, every: 40 },
};

export interface Settings {
  unit: AxisUnit;
  log: Record<LaneId, boolean>;
  snap: boolean;
  datasetSize: number;
  /** The dataset N was taken from (a DATASET_NAMES entry, or "custom"). */
  dataset: string;
  /** Noise level C as typed ("" = unknown: delta relative to delta_0). */
  noise: string;
  /** "" (none), "preset:<name>" or "pinned". */
  compare: string;
  pinned: Doc | null;
  throughputKey: string;
}

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

function storage(): StorageLike | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

/** The document saved by the last visit, if it looks like a schedule (the service validates it). */
export function restoreDoc(store: StorageLike | null = storage()): Doc | null {
  try {
    const text = store?.getItem(STORAGE_KEY);
    if (!text) return null;
    const v = JSON.parse(text) as Doc;
    return v && typeof v === "object" && v.version === 1 && typeof v.epochs === "number" ? v : null;
  } catch {
    return null;
  }
}

export function persistDoc(doc: Doc, store: StorageLike | null = storage()): void {
  try {
    store?.setItem(STORAGE_KEY, JSON.stringify(doc));
  } catch {
    // Private mode or a full quota: the document just is not kept for the next visit.
  }
}

export const session = {
  history: new History<Doc>(restoreDoc() ?? STARTER, 200, sameDoc),
  settings: {
    unit: "epochs",
    log: { lr: false, batch: false, delta: false },
    snap: true,
    // The embedded dataset's training images: what a run trains on by default.
    datasetSize: 10_000,
    dataset: "default",
    noise: "",
    compare: "",
    pinned: null,
    throughputKey: "",
  } as Settings,
};
