/** Plain-text table and CSV rendering for CLI output. */

export type Cell = string | number;

/** Numbers with up to 6 significant digits, integers as they are. */
export function num(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return Number(x.toPrecision(6)).toString();
}

export function table(header: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map((c) => (typeof c === "number" ? num(c) : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padStart(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const lines = [line(header), line(widths.map((w) => "-".repeat(w))), ...text.map(line)];
  return `${lines.join("\n")}\n`;
}

/** CSV with full-precision numbers (no rounding: these feed other tools). */
export function csv(header: string[], rows: Cell[][]): string {
  const esc = (c: Cell) => {
    const s = String(c);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return `${[header, ...rows].map((r) => r.map(esc).join(",")).join("\n")}\n`;
}
