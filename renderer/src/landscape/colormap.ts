/** Colour scale for the heat maps: viridis (perceptually uniform, readable in grey), on a log-like ramp. */

// Viridis at 9 evenly spaced stops (matplotlib's table).
const STOPS: [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** A 256-entry RGB lookup table. */
export const LUT: Uint8ClampedArray = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (STOPS.length - 1);
    const k = Math.min(STOPS.length - 2, Math.floor(t));
    const f = t - k;
    const a = STOPS[k] as [number, number, number];
    const b = STOPS[k + 1] as [number, number, number];
    for (let c = 0; c < 3; c++) {
      const from = a[c] as number;
      lut[i * 3 + c] = Math.round(from + ((b[c] as number) - from) * f);
    }
  }
  return lut;
})();

/**
 * A colour scale by rank (histogram equalisation): a value's colour is its
 * quantile among the reference values (f on the grid), so every function shows
 * its structure whatever its range (Rastrigin's 0..80, Ackley's 0..14,
 * Himmelblau's 0..900), and f_delta, drawn on the same scale, shows smoothing
 * as lost contrast.
 */
export interface ColourScale {
  min: number;
  max: number;
  /** A LUT index 0..255 for v. */
  index(v: number): number;
  /** The value at quantile q (for the legend). */
  quantile(q: number): number;
}

export function rankScale(reference: ArrayLike<number>): ColourScale {
  const sorted = Float64Array.from(reference).sort();
  const n = sorted.length;
  const min = sorted[0] ?? 0;
  const max = sorted[n - 1] ?? 0;
  return {
    min,
    max,
    index(v) {
      // Binary search: the number of reference values below v.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((sorted[mid] as number) < v) lo = mid + 1;
        else hi = mid;
      }
      return n > 1 ? Math.round((255 * Math.min(lo, n - 1)) / (n - 1)) : 0;
    },
    quantile(q) {
      return sorted[Math.min(n - 1, Math.max(0, Math.round(q * (n - 1))))] ?? 0;
    },
  };
}

/** CSS colour of the ramp at fraction t (for the legend). */
export function rampCss(t: number): string {
  const i = Math.round(Math.min(1, Math.max(0, t)) * 255) * 3;
  return `rgb(${LUT[i]}, ${LUT[i + 1]}, ${LUT[i + 2]})`;
}

/** A distinct colour per schedule (the table's swatches and the delta chart's lines). */
export const SCHEDULE_COLOURS = [
  "#6b7280",
  "#111827",
  "#2f6fdb",
  "#d9822b",
  "#8a4fbf",
  "#2e8540",
  "#c2412d",
  "#0f9fb3",
  "#b8860b",
  "#e0529c",
];
