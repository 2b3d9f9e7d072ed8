/**
 * Loads a folder holding the four standard MNIST-layout idx files, each
 * optionally gzipped: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (the spelling with a dot,
 * `train-images.idx3-ubyte`, is accepted too).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DatasetError } from "./errors.js";
import { readIdxSplit } from "./idx.js";
import { computeChannelStats } from "./stats.js";
import type { Dataset } from "./types.js";

export const IDX_FILE_NAMES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

export type IdxFileRole = keyof typeof IDX_FILE_NAMES;

/** The path of each of the four files in `dir`, or the list of those missing. */
export function findIdxFiles(
  dir: string,
): { found: Record<IdxFileRole, string>; missing: [] } | { found: null; missing: string[] } {
  const found: Partial<Record<IdxFileRole, string>> = {};
  const missing: string[] = [];
  for (const [role, base] of Object.entries(IDX_FILE_NAMES) as [IdxFileRole, string][]) {
    const dotted = base.replace(/-(idx\d)/, ".$1");
    const candidates = [base, `${base}.gz`, dotted, `${dotted}.gz`].map((n) => join(dir, n));
    const hit = candidates.find((p) => existsSync(p));
    if (hit) found[role] = hit;
    else missing.push(`${base}(.gz)`);
  }
  if (missing.length > 0) return { found: null, missing };
  return { found: found as Record<IdxFileRole, string>, missing: [] };
}

export function hasIdxFiles(dir: string): boolean {
  return findIdxFiles(dir).found !== null;
}

export interface IdxFolderInfo {
  readonly name: string;
  readonly classes: readonly string[];
  readonly description: string;
  /**
   * The most each file may declare: images per split and their size. A
   * header beyond them (a damaged or hostile file, a gzip bomb) is refused
   * before its data is read or inflated.
   */
  readonly limits: {
    readonly train: number;
    readonly test: number;
    readonly rows: number;
    readonly cols: number;
  };
}

export async function loadIdxFolder(dir: string, info: IdxFolderInfo): Promise<Dataset> {
  const { found, missing } = findIdxFiles(dir);
  if (!found) {
    throw new DatasetError(
      `not a ${info.name} folder: missing ${missing.join(", ")} (expected the four idx files, gzipped or not)`,
      dir,
    );
  }
  const n = info.classes.length;
  const { rows, cols } = info.limits;
  const expect = (split: "train" | "test") => ({
    what: `${info.name} ${split}`,
    maxCount: info.limits[split],
    maxRows: rows,
    maxCols: cols,
  });
  const [train, test] = await Promise.all([
    readIdxSplit(found.trainImages, found.trainLabels, n, expect("train")),
    readIdxSplit(found.testImages, found.testLabels, n, expect("test")),
  ]);
  if (train.shape[0] !== test.shape[0] || train.shape[1] !== test.shape[1]) {
    throw new DatasetError(
      `train images are ${train.shape[0]}x${train.shape[1]} but test images are ${test.shape[0]}x${test.shape[1]}; both splits must have the same image size`,
      dir,
    );
  }
  return {
    name: info.name,
    train: train.split,
    test: test.split,
    classes: [...info.classes],
    shape: train.shape,
    source: { kind: "idx-folder", path: dir, description: info.description },
    stats: computeChannelStats(train.split.images, train.shape),
  };
}
