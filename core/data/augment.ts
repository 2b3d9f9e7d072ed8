/**
 * Standard CIFAR augmentation and per-channel normalisation into float32.
 *
 * Random crop: pad the image with `padding` zero pixels on every side, then
 * crop back to the original size at a random offset; equivalently, shift by
 * (dy, dx), each uniform in [-padding, padding], filling with pixel value 0
 * (black, before normalisation: as torchvision's RandomCrop(padding=4)).
 * Horizontal flip with probability `flipProbability`, applied after the crop.
 * Normalisation: (pixel / 255 - mean[c]) / std[c].
 *
 * All randomness comes from the Rng passed in; per image, in this order:
 * dy, dx (only when padding > 0), flip (only when flipProbability > 0).
 */
import type { Rng } from "./rng.js";
import type { ChannelStats, ImageShape } from "./types.js";
import { imageSize } from "./types.js";

export interface AugmentOptions {
  /** Zero padding per side for the random crop (default 4; 0 turns cropping off). */
  readonly padding?: number;
  /** Probability of a horizontal flip (default 0.5; 0 turns flipping off). */
  readonly flipProbability?: number;
}

/** The standard CIFAR recipe: crop 32 with padding 4, flip with p = 0.5. */
export const CIFAR_AUGMENT: Required<AugmentOptions> = { padding: 4, flipProbability: 0.5 };

/** Per-image augmentation parameters. */
export interface AugmentParams {
  readonly dy: Int32Array;
  readonly dx: Int32Array;
  readonly flip: Uint8Array;
}

/** mean 0, std 1 for every channel: plain scaling to [0, 1]. */
export function unitScale(channels: number): ChannelStats {
  return { mean: new Array(channels).fill(0), std: new Array(channels).fill(1) };
}

/** Float lookup table: lut[c * 256 + v] = (v / 255 - mean[c]) / std[c]. */
export function normalizationTable(norm: ChannelStats, channels: number): Float32Array {
  if (norm.mean.length !== channels || norm.std.length !== channels) {
    throw new RangeError(
      `normalisation has ${norm.mean.length} means and ${norm.std.length} stds, the images have ${channels} channel(s)`,
    );
  }
  const lut = new Float32Array(256 * channels);
  for (let c = 0; c < channels; c++) {
    const m = norm.mean[c] as number;
    const s = norm.std[c] as number;
    if (!(s > 0)) throw new RangeError(`std for channel ${c} must be > 0, got ${s}`);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - m) / s;
  }
  return lut;
}

/** Draws the crop offsets and flips for `n` images. */
export function drawAugmentParams(
  rng: Rng,
  n: number,
  opts: AugmentOptions = CIFAR_AUGMENT,
): AugmentParams {
  const pad = opts.padding ?? CIFAR_AUGMENT.padding;
  const p = opts.flipProbability ?? CIFAR_AUGMENT.flipProbability;
  if (!Number.isInteger(pad) || pad < 0)
    throw new RangeError(`padding must be an integer >= 0, got ${pad}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`flipProbability must be in [0, 1], got ${p}`);
  const dy = new Int32Array(n);
  const dx = new Int32Array(n);
  const flip = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (pad > 0) {
      dy[i] = rng.int(2 * pad + 1) - pad;
      dx[i] = rng.int(2 * pad + 1) - pad;
    }
    if (p > 0) flip[i] = rng.bernoulli(p) ? 1 : 0;
  }
  return { dy, dx, flip };
}

/**
 * Writes image `src` (HWC uint8 at `srcOffset`) shifted by (dy, dx), optionally
 * mirrored, normalised through `lut`, into `out` at `outOffset`.
 */
export function writeTransformed(
  src: Uint8Array,
  srcOffset: number,
  shape: ImageShape,
  out: Float32Array,
  outOffset: number,
  dy: number,
  dx: number,
  flip: boolean,
  lut: Float32Array,
): void {
  const [h, w, c] = shape;
  const row = w * c;
  for (let y = 0; y < h; y++) {
    const sy = y + dy;
    const o = outOffset + y * row;
    if (sy < 0 || sy >= h) {
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) out[o + x * c + ch] = lut[ch * 256] as number;
      continue;
    }
    const s = srcOffset + sy * row;
    for (let x = 0; x < w; x++) {
      const sx = (flip ? w - 1 - x : x) + dx;
      const ox = o + x * c;
      if (sx < 0 || sx >= w) {
        for (let ch = 0; ch < c; ch++) out[ox + ch] = lut[ch * 256] as number;
      } else {
        const sp = s + sx * c;
        for (let ch = 0; ch < c; ch++)
          out[ox + ch] = lut[ch * 256 + (src[sp + ch] as number)] as number;
      }
    }
  }
}

/**
 * A normalised float32 batch (N*h*w*c, HWC) of `images[indices]`, augmented
 * when `augment` is given (drawing from `rng`), else only normalised.
 */
export function augmentBatch(
  images: Uint8Array,
  indices: ArrayLike<number>,
  shape: ImageShape,
  norm: ChannelStats,
  rng: Rng | null,
  augment: AugmentOptions | null = CIFAR_AUGMENT,
  out?: Float32Array,
): Float32Array {
  const size = imageSize(shape);
  const n = indices.length;
  const dst = out ?? new Float32Array(n * size);
  if (dst.length < n * size) {
    throw new RangeError(`output buffer holds ${dst.length} floats, ${n * size} are needed`);
  }
  const lut = normalizationTable(norm, shape[2]);
  let params: AugmentParams | null = null;
  if (augment) {
    if (!rng) throw new Error("augmentBatch: augmentation needs an Rng");
    params = drawAugmentParams(rng, n, augment);
  }
  for (let i = 0; i < n; i++) {
    const idx = indices[i] as number;
    writeTransformed(
      images,
      idx * size,
      shape,
      dst,
      i * size,
      params ? (params.dy[i] as number) : 0,
      params ? (params.dx[i] as number) : 0,
      params ? params.flip[i] === 1 : false,
      lut,
    );
  }
  return dst;
}
