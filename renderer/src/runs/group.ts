/**
 * Grouping runs for the comparison view: by a field of the run (schedule,
 * model, optimizer, ...), by any path of the spec, or by "everything but the
 * seed" (all seeds of one configuration). Groups keep the order in which
 * their first run appears.
 */
import { flatten, formatValue, stableStringify } from "./specdiff";

export interface GroupField {
  id: string;
  label: string;
}

/** The fields offered in "Group by", before the spec paths that differ between the runs. */
export const GROUP_FIELDS: readonly GroupField[] = [
  { id: "none", label: "no grouping" },
  { id: "allButSeed", label: "same spec but seed" },
  { id: "schedule", label: "schedule" },
  { id: "model", label: "model" },
  { id: "dataset", label: "dataset" },
  { id: "optimizer", label: "optimizer" },
  { id: "backend", label: "backend" },
  { id: "status", label: "status" },
  { id: "tag", label: "first tag" },
];

/** The fields of a run grouping looks at (a `Run` has them all). */
export interface GroupRun {
  id: string;
  name: string | null;
  scheduleName?: string | null;
  spec: unknown;
  model: string;
  dataset: string;
  optimizer: string;
  backend: string | null;
  status: string;
  tags: string[];
}

/** The text runs of one group share for this field. Spec paths are `spec:<path>`. */
export function groupValue(run: GroupRun, field: string): string {
  switch (field) {
    case "none":
      return run.id;
    case "allButSeed": {
      const { seed: _seed, ...rest } = run.spec as Record<string, unknown>;
      return stableStringify(rest);
    }
    case "schedule":
      return (
        run.scheduleName ??
        run.name ??
        stableStringify((run.spec as { schedule?: unknown }).schedule ?? null)
      );
    case "model":
      return run.model;
    case "dataset":
      return run.dataset;
    case "optimizer":
      return run.optimizer;
    case "backend":
      return run.backend ?? "auto";
    case "status":
      return run.status;
    case "tag":
      return run.tags[0] ?? "(untagged)";
    default:
      if (field.startsWith("spec:")) {
        const flat = flatten(run.spec);
        return formatValue(flat[field.slice(5)]);
      }
      return "";
  }
}

export interface Group<R extends GroupRun = GroupRun> {
  key: string;
  label: string;
  runs: R[];
}

/** A short readable label: for allButSeed the schedule, model and optimizer; otherwise the value. */
function labelOf(run: GroupRun, field: string, value: string): string {
  if (field === "allButSeed")
    return `${run.scheduleName ?? run.name ?? "schedule"} · ${run.model} · ${run.optimizer}`;
  if (field.startsWith("spec:")) return `${field.slice(5)} = ${value}`;
  return value;
}

export function groupRuns<R extends GroupRun>(runs: R[], field: string): Group<R>[] {
  const groups = new Map<string, Group<R>>();
  for (const run of runs) {
    const key = groupValue(run, field);
    let g = groups.get(key);
    if (!g) {
      g = { key, label: labelOf(run, field, key), runs: [] };
      groups.set(key, g);
    }
    g.runs.push(run);
  }
  const out = [...groups.values()];
  // Two groups with the same label (allButSeed differing elsewhere) get a number each.
  const count = new Map<string, number>();
  for (const g of out) count.set(g.label, (count.get(g.label) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const g of out)
    if ((count.get(g.label) ?? 0) > 1) {
      const k = (seen.get(g.label) ?? 0) + 1;
      seen.set(g.label, k);
      g.label = `${g.label} #${k}`;
    }
  return out;
}

/** The spec paths whose values differ between the runs: extra "Group by" choices. */
export function differingSpecPaths(runs: GroupRun[]): string[] {
  const flat = runs.map((r) => flatten(r.spec));
  const paths = new Set<string>();
  for (const f of flat) for (const p of Object.keys(f)) paths.add(p);
  return [...paths].filter((p) => {
    const first = formatValue(flat[0]?.[p]);
    return flat.some((f) => formatValue(f[p]) !== first);
  });
}
