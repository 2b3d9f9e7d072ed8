/**
 * CSV export of what a comparison chart shows: every point of every run,
 * raw and smoothed, or the group means with their band. RFC 4180 quoting;
 * numbers at full precision; a value that is not finite is an empty field.
 */

export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(header: string[], rows: Iterable<unknown[]>): string {
  const lines = [header.map(csvField).join(",")];
  for (const r of rows) lines.push(r.map(csvField).join(","));
  return `${lines.join("\n")}\n`;
}

export interface CsvSeries {
  runId: string;
  runName: string | null;
  key: string;
  xs: ArrayLike<number>;
  steps: ArrayLike<number>;
  values: ArrayLike<number>;
  /** null: the key is not smoothed (smoothable.ts); the column stays empty. */
  smoothed: ArrayLike<number> | null;
}

/** One line per point: run_id, run_name, key, step, <x axis>, value, smoothed. */
export function seriesCsv(series: CsvSeries[], xAxis: string): string {
  const header = ["run_id", "run_name", "key", "step"];
  if (xAxis !== "step") header.push(xAxis);
  header.push("value", "smoothed");
  function* rows(): Generator<unknown[]> {
    for (const s of series)
      for (let i = 0; i < s.values.length; i++) {
        const row: unknown[] = [s.runId, s.runName ?? "", s.key, s.steps[i]];
        if (xAxis !== "step") row.push(s.xs[i]);
        row.push(s.values[i], s.smoothed ? s.smoothed[i] : null);
        yield row;
      }
  }
  return toCsv(header, rows());
}

export interface CsvGroup {
  group: string;
  key: string;
  runs: number;
  x: ArrayLike<number>;
  mean: ArrayLike<number>;
  lo: ArrayLike<number>;
  hi: ArrayLike<number>;
  count: ArrayLike<number>;
}

/** One line per grid point of each group: group, key, x, mean, band low and high, runs counted. */
export function groupCsv(groups: CsvGroup[], xAxis: string, band: string): string {
  function* rows(): Generator<unknown[]> {
    for (const g of groups)
      for (let i = 0; i < g.x.length; i++)
        yield [g.group, g.key, g.x[i], g.mean[i], g.lo[i], g.hi[i], g.count[i]];
  }
  const [lo, hi] = band === "std" ? ["mean_minus_std", "mean_plus_std"] : ["min", "max"];
  return toCsv(["group", "key", xAxis, "mean", lo, hi, "runs"], rows());
}
