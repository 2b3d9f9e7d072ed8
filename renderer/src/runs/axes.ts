/** Axis ranges and file names of the comparison charts (plain functions, tested in Node). */

/**
 * The range an axis shows around [lo, hi]: a little room when the values span
 * nothing (a constant series, one point), so that the ticks step through
 * distinct values instead of repeating one (chart.js would put the series on
 * the frame and label every tick alike).
 */
export function paddedRange(lo: number, hi: number, log: boolean): [number, number] {
  if (log) {
    if (hi > lo * (1 + 1e-9)) return [lo, hi];
    return [lo / 1.25, hi * 1.25];
  }
  const scale = Math.max(Math.abs(lo), Math.abs(hi));
  if (hi - lo > scale * 1e-9) return [lo, hi];
  const pad = scale > 0 ? scale * 0.05 : 0.5;
  return [lo - pad, hi + pad];
}

/** A file name without spaces or characters file systems dislike; letters such as δ kept. */
export function cleanFileName(name: string): string {
  const printable = [...name.normalize("NFC")].filter((ch) => ch.charCodeAt(0) >= 32).join("");
  return (
    printable
      .replace(/[\\/:*?"<>|]+/g, "")
      .replace(/[\s()[\],;]+/g, "-")
      .replace(/-+/g, "-")
      .replace(/^-|-$/g, "") || "chart"
  );
}
