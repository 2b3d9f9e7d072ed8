/**
 * Epoch iteration: a (shuffled) pass over a split in batches of float32
 * images (normalised, optionally augmented) and int32 labels.
 *
 * Randomness: the permutation is drawn from `rng` first, then each batch's
 * augmentation parameters, in batch order. Give each epoch its own stream,
 * e.g. `epochRng(root, epoch)`, so that an epoch can be replayed (or resumed
 * with `startBatch`) from the seed alone.
 */
import { type AugmentOptions, augmentBatch, drawAugmentParams, unitScale } from "./augment.js";
import type { Rng } from "./rng.js";
import type { ChannelStats, Dataset, ImageShape, Split } from "./types.js";
import { imageSize } from "./types.js";

export interface BatchOptions {
  readonly shape: ImageShape;
  readonly batchSize: number;
  /** Random stream for shuffling and augmentation; required unless both are off. */
  readonly rng?: Rng;
  /** Shuffle the order each epoch (default true). */
  readonly shuffle?: boolean;
  /** Skip a final batch smaller than batchSize (default false: it is yielded). */
  readonly dropLast?: boolean;
  /** Per-channel mean/std (pixels in [0, 1]) or "unit" for plain scaling to [0, 1]. */
  readonly normalize: ChannelStats | "unit";
  /** Augmentation (e.g. CIFAR_AUGMENT), or off when absent/false. */
  readonly augment?: AugmentOptions | false;
  /** Start at this batch, consuming the rng exactly as if earlier batches had been made (default 0). */
  readonly startBatch?: number;
}

export interface Batch {
  /** Position of this batch in the epoch, from 0. */
  readonly index: number;
  /** Number of images (batchSize, or fewer for a final partial batch). */
  readonly size: number;
  /** size*h*w*c floats, HWC. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  /** Which images of the split these are. */
  readonly indices: Uint32Array;
}

/** Number of batches one epoch yields. */
export function batchesPerEpoch(count: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** The conventional per-epoch stream: `root.fork("epoch").fork(epoch)`. */
export function epochRng(root: Rng, epoch: number): Rng {
  return root.fork("epoch").fork(epoch);
}

function checkOptions(split: Split, opts: BatchOptions): void {
  const b = opts.batchSize;
  if (!Number.isInteger(b) || b < 1) {
    throw new RangeError(`batch size must be a positive integer, got ${b}`);
  }
  if (b > split.count) {
    throw new RangeError(
      `batch size ${b} is larger than the dataset split (${split.count} images); use a batch size of at most ${split.count}, or a larger dataset`,
    );
  }
  const expected = split.count * imageSize(opts.shape);
  if (split.images.length !== expected || split.labels.length !== split.count) {
    throw new RangeError(
      `split is inconsistent: ${split.count} images of ${opts.shape.join("x")} need ${expected} bytes and ${split.count} labels, found ${split.images.length} and ${split.labels.length}`,
    );
  }
  const needsRng = opts.shuffle !== false || !!opts.augment;
  if (needsRng && !opts.rng) {
    throw new Error("epochBatches: shuffling/augmentation need an rng (or set shuffle: false)");
  }
}

/**
 * The batches of one epoch. Options are checked (and the permutation drawn)
 * when this is called, not at the first `next()`. Each batch owns fresh arrays.
 */
export function epochBatches(split: Split, opts: BatchOptions): Generator<Batch, void, undefined> {
  checkOptions(split, opts);
  const total = batchesPerEpoch(split.count, opts.batchSize, opts.dropLast ?? false);
  const start = opts.startBatch ?? 0;
  if (!Number.isInteger(start) || start < 0 || start > total) {
    throw new RangeError(`startBatch must be an integer in [0, ${total}], got ${start}`);
  }
  const rng = opts.rng ?? null;
  const order = opts.shuffle === false ? null : (rng as Rng).permutation(split.count);
  return generate(split, opts, rng, order, total, start);
}

function* generate(
  split: Split,
  opts: BatchOptions,
  rng: Rng | null,
  order: Uint32Array | null,
  total: number,
  start: number,
): Generator<Batch, void, undefined> {
  const { batchSize, shape } = opts;
  const norm = opts.normalize === "unit" ? unitScale(shape[2]) : opts.normalize;
  const augment = opts.augment || null;
  for (let b = 0; b < total; b++) {
    const first = b * batchSize;
    const size = Math.min(batchSize, split.count - first);
    if (b < start) {
      if (augment && rng) drawAugmentParams(rng, size, augment);
      continue;
    }
    const indices = new Uint32Array(size);
    const labels = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const idx = order ? (order[first + i] as number) : first + i;
      indices[i] = idx;
      labels[i] = split.labels[idx] as number;
    }
    const images = augmentBatch(split.images, indices, shape, norm, rng, augment);
    yield { index: b, size, images, labels, indices };
  }
}

/** epochBatches over a dataset's split, normalised to its training statistics unless told otherwise. */
export function datasetBatches(
  dataset: Dataset,
  which: "train" | "test",
  opts: Omit<BatchOptions, "shape" | "normalize"> & {
    normalize?: ChannelStats | "unit" | "dataset";
  },
): Generator<Batch, void, undefined> {
  const normalize =
    opts.normalize === undefined || opts.normalize === "dataset" ? dataset.stats : opts.normalize;
  return epochBatches(dataset[which], { ...opts, shape: dataset.shape, normalize });
}
