/**
 * Per-channel mean/std of a split's pixels (scaled to [0, 1]), computed
 * exactly from a 256-bin histogram per channel, so the result does not depend
 * on summation order.
 */
import type { ChannelStats, ImageShape } from "./types.js";

export function computeChannelStats(images: Uint8Array, shape: ImageShape): ChannelStats {
  const c = shape[2];
  const hist = new Float64Array(256 * c);
  if (c === 1) {
    for (let i = 0; i < images.length; i++) {
      const k = images[i] as number;
      hist[k] = (hist[k] as number) + 1;
    }
  } else {
    for (let i = 0; i < images.length; i += c) {
      for (let ch = 0; ch < c; ch++) {
        const k = ch * 256 + (images[i + ch] as number);
        hist[k] = (hist[k] as number) + 1;
      }
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    let n = 0;
    let sum = 0;
    for (let v = 0; v < 256; v++) {
      const k = hist[ch * 256 + v] as number;
      n += k;
      sum += k * v;
    }
    const m = n > 0 ? sum / n : 0;
    let sq = 0;
    for (let v = 0; v < 256; v++) {
      const d = v - m;
      sq += (hist[ch * 256 + v] as number) * d * d;
    }
    const sd = n > 0 ? Math.sqrt(sq / n) : 0;
    mean.push(m / 255);
    // A constant channel would divide by zero when normalising; use 1 instead.
    std.push(sd > 0 ? sd / 255 : 1);
  }
  return { mean, std };
}
