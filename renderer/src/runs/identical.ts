/**
 * Runs with identical trajectories: the same values of every metric both
 * runs have, point for point (a rerun of the same spec and seed, a duplicate
 * import). Overlaid, the second hides the first exactly, so the views say
 * "same as run X" instead of letting one line silently vanish.
 */

export interface KeyedSeries {
  key: string;
  xs: ArrayLike<number>;
  values: ArrayLike<number>;
}

function equal(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) return false;
  }
  return true;
}

/** Same keys, and every key's points equal (x and value), with at least one key of 2+ points. */
export function sameTrajectory(a: KeyedSeries[], b: KeyedSeries[]): boolean {
  if (a.length === 0 || a.length !== b.length) return false;
  const byKey = new Map(b.map((s) => [s.key, s]));
  let points = 0;
  for (const s of a) {
    const t = byKey.get(s.key);
    if (!t || !equal(s.xs, t.xs) || !equal(s.values, t.values)) return false;
    points = Math.max(points, s.values.length);
  }
  return points >= 2;
}

/** For each run identical to an earlier one (in the order given): that earlier run's id. */
export function identicalRuns(
  ids: readonly string[],
  seriesOf: (id: string) => KeyedSeries[],
): Map<string, string> {
  const out = new Map<string, string>();
  const loaded = ids.map((id) => ({ id, series: seriesOf(id) }));
  for (let j = 1; j < loaded.length; j++) {
    const b = loaded[j] as { id: string; series: KeyedSeries[] };
    for (let i = 0; i < j; i++) {
      const a = loaded[i] as { id: string; series: KeyedSeries[] };
      if (out.has(a.id)) continue; // point at the first of a set of copies
      if (sameTrajectory(a.series, b.series)) {
        out.set(b.id, a.id);
        break;
      }
    }
  }
  return out;
}
