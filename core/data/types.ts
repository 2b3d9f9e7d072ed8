/**
 * The dataset shape shared by every loader: plain typed arrays, no tfjs.
 * Images are uint8, row-major HWC (height, width, channel), one image after
 * another; labels are one uint8 class index per image.
 */

/** Height, width, channels of one image. */
export type ImageShape = readonly [h: number, w: number, c: number];

/** One split (train or test) of a dataset. */
export interface Split {
  /** `count * h * w * c` bytes, HWC uint8, image `i` starts at `i * h * w * c`. */
  readonly images: Uint8Array;
  /** `count` class indices, each `< classes.length`. */
  readonly labels: Uint8Array;
  readonly count: number;
}

/** Per-channel mean and standard deviation of pixel values scaled to [0, 1]. */
export interface ChannelStats {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export type DatasetSourceKind =
  | "embedded"
  | "idx-folder"
  | "cifar-folder"
  | "cifar-archive"
  | "dataset-file"
  | "memory";

/** Where a dataset was loaded from, for display and for run records. */
export interface DatasetSource {
  readonly kind: DatasetSourceKind;
  /** File or folder it was read from ("" for in-memory datasets). */
  readonly path: string;
  /** One line for humans, e.g. "Fashion-MNIST (Zalando Research, MIT licence)". */
  readonly description: string;
}

export interface Dataset {
  /** Short identifier, e.g. "fashion-mnist", "cifar10", "default". */
  readonly name: string;
  readonly train: Split;
  readonly test: Split;
  /** Class names; `labels[i]` indexes this list. */
  readonly classes: readonly string[];
  readonly shape: ImageShape;
  readonly source: DatasetSource;
  /** Per-channel statistics of the training split (pixels scaled to [0, 1]). */
  readonly stats: ChannelStats;
}

/** Bytes in one image of the given shape. */
export function imageSize(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}
