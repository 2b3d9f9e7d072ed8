/**
 * The hyperparameter diff of the comparison view: each run's spec flattened
 * to dotted paths (`schedule.lr.kind`, `optimizer.momentum`), one row per
 * path, one column per run; "only differences" keeps the rows where the runs
 * disagree (a field one run lacks counts as a difference).
 */

/** Flattens objects to dotted paths; arrays of plain values stay one value, arrays of objects get indices. */
export function flatten(
  value: unknown,
  prefix = "",
  out: Record<string, unknown> = {},
): Record<string, unknown> {
  if (Array.isArray(value)) {
    if (value.some((v) => v !== null && typeof v === "object")) {
      value.forEach((v, i) => {
        flatten(v, prefix ? `${prefix}.${i}` : String(i), out);
      });
      if (value.length === 0 && prefix) out[prefix] = value;
    } else if (prefix) out[prefix] = value;
    return out;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out[prefix] = {};
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    return out;
  }
  if (prefix) out[prefix] = value;
  return out;
}

/** How a value shows in the diff: strings as they are, missing as an en dash, others as JSON. */
export function formatValue(v: unknown): string {
  if (v === undefined) return "–";
  if (typeof v === "string") return v;
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : String(v);
  return JSON.stringify(v);
}

export interface DiffRow {
  path: string;
  /** One per spec, formatted. */
  values: string[];
  differs: boolean;
}

/** Rows in the order paths first appear across the specs. */
export function specDiff(specs: unknown[], options: { onlyDifferences?: boolean } = {}): DiffRow[] {
  const flat = specs.map((s) => flatten(s));
  const paths: string[] = [];
  const seen = new Set<string>();
  for (const f of flat)
    for (const p of Object.keys(f))
      if (!seen.has(p)) {
        seen.add(p);
        // A field only a later spec has goes beside its siblings (after the last path of its parent).
        const dot = p.lastIndexOf(".");
        const parent = dot > 0 ? `${p.slice(0, dot)}.` : null;
        let at = -1;
        if (parent) for (let i = 0; i < paths.length; i++) if (paths[i]?.startsWith(parent)) at = i;
        if (at >= 0) paths.splice(at + 1, 0, p);
        else paths.push(p);
      }
  const rows: DiffRow[] = [];
  for (const path of paths) {
    const values = flat.map((f) => formatValue(Object.hasOwn(f, path) ? f[path] : undefined));
    const differs = values.some((v) => v !== values[0]);
    if (options.onlyDifferences && !differs) continue;
    rows.push({ path, values, differs });
  }
  return rows;
}

/** JSON with object keys sorted, so equal specs give equal text whatever their key order. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value as object)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys
      .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
