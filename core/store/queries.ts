/**
 * The queries the comparison view needs.
 *
 * queryMetrics: chosen keys of many runs against step, epoch (fractional
 * epochs done), samples seen or wall time, downsampled in SQLite to a point
 * budget per series. Method: min/max per bucket. The x range of a series is
 * cut into equal-width buckets and each bucket keeps its lowest and its
 * highest value (plus the series' first and last point), so a spike or a
 * loss blow-up is never averaged or skipped away, and a flat stretch costs
 * two points. It is one GROUP BY per extreme (SQLite returns the other
 * columns of the row holding the min() or max()), needs no window functions,
 * and gives the same answer every time. LTTB picks visually nicer points, but
 * each choice depends on the previous one, so it cannot be done as a set
 * query in SQL and could drop an extreme.
 *
 * bestAndFinal: a key's last value and its best value (min or max) with the
 * step, epoch, samples and wall time at which it was first reached.
 */
import type { XAxis } from "../api/lists.js";
import type { BestAndFinal, MetricKeyInfo, MetricPoint, MetricSeries } from "../api/records.js";
import { StoreError } from "./errors.js";
import { libraryInternals, type RunStore } from "./store.js";

/** The records and the x axes are declared in core/api (records.ts, lists.ts). */
export type { BestAndFinal, MetricKeyInfo, MetricPoint, MetricSeries, XAxis };

export const X_COLUMNS: Readonly<Record<XAxis, string>> = {
  step: "step",
  epoch: "epochs_done",
  samples: "samples",
  wallTime: "wall_time",
};

export interface MetricsQuery {
  runIds: string[];
  keys: string[];
  /** The x axis (default step); "epoch" is fractional epochs done. */
  x?: XAxis;
  /** The most points returned per series (one run, one key); default 1000, at least 4. */
  maxPoints?: number;
  /** Only points with from <= x <= to. */
  from?: number;
  to?: number;
}

interface Row {
  x: number;
  step: number;
  value: number;
}

export function queryMetrics(store: RunStore, query: MetricsQuery): MetricSeries[] {
  const x = query.x ?? "step";
  const col = X_COLUMNS[x];
  if (!col)
    throw new StoreError("invalid", `x must be one of ${Object.keys(X_COLUMNS).join(", ")}`);
  const maxPoints = Math.floor(query.maxPoints ?? 1000);
  if (!(maxPoints >= 4)) throw new StoreError("invalid", "maxPoints must be at least 4");
  const db = libraryInternals(store).db;
  const range = `${query.from === undefined ? "" : ` AND ${col} >= @from`}${query.to === undefined ? "" : ` AND ${col} <= @to`}`;
  const series = `FROM metrics WHERE run_pk = @pk AND key_id = @key AND value IS NOT NULL${range}`;
  const stats = db.prepare(`SELECT count(*) AS n, min(${col}) AS x0, max(${col}) AS x1 ${series}`);
  const all = db.prepare(`SELECT ${col} AS x, step, value ${series} ORDER BY step`);
  const buckets = Math.floor((maxPoints - 2) / 2);
  const minmax = db.prepare(
    `WITH s AS (SELECT ${col} AS x, step, value ${series}),
     b AS (SELECT x, step, value,
             min(CAST((x - @x0) * ${buckets} / @span AS INTEGER), ${buckets - 1}) AS bucket FROM s)
     SELECT x, step, value FROM (SELECT bucket, x, step, min(value) AS value FROM b GROUP BY bucket)
     UNION SELECT x, step, value FROM (SELECT bucket, x, step, max(value) AS value FROM b GROUP BY bucket)
     UNION SELECT x, step, value FROM (SELECT x, step, value FROM s ORDER BY step LIMIT 1)
     UNION SELECT x, step, value FROM (SELECT x, step, value FROM s ORDER BY step DESC LIMIT 1)
     ORDER BY step`,
  );
  const out: MetricSeries[] = [];
  const read = db.transaction(() => {
    for (const id of query.runIds) {
      const runId = store.resolveId(id);
      const pk = libraryInternals(store).pk(runId);
      for (const key of query.keys) {
        const keyId = libraryInternals(store).existingKeyId(key);
        const params: Record<string, number> = { pk, key: keyId ?? -1 };
        if (query.from !== undefined) params.from = query.from;
        if (query.to !== undefined) params.to = query.to;
        const s = stats.get(params) as { n: number; x0: number | null; x1: number | null };
        const downsampled = s.n > maxPoints;
        const rows = (
          downsampled
            ? minmax.all({
                ...params,
                x0: s.x0 ?? 0,
                span: s.x1 !== null && s.x0 !== null && s.x1 > s.x0 ? s.x1 - s.x0 : 1,
              })
            : all.all(params)
        ) as Row[];
        out.push({
          runId,
          key,
          x,
          xs: rows.map((r) => r.x),
          values: rows.map((r) => r.value),
          steps: rows.map((r) => r.step),
          total: s.n,
          downsampled,
        });
      }
    }
  });
  read();
  return out;
}

/** Default direction: accuracy and throughput are best when highest, everything else when lowest. */
export function defaultMode(key: string): "min" | "max" {
  return /acc|throughput/i.test(key) ? "max" : "min";
}

export function bestAndFinal(
  store: RunStore,
  runId: string,
  key: string,
  mode: "min" | "max" = defaultMode(key),
): BestAndFinal {
  const pk = libraryInternals(store).pk(runId);
  const keyId = libraryInternals(store).existingKeyId(key) ?? -1;
  const cols =
    "value, step, epoch, epochs_done AS epochsDone, samples, wall_time AS wallTime FROM metrics WHERE run_pk = ? AND key_id = ? AND value IS NOT NULL";
  const db = libraryInternals(store).db;
  const final = db.prepare(`SELECT ${cols} ORDER BY step DESC LIMIT 1`).get(pk, keyId) as
    | MetricPoint
    | undefined;
  const best = db
    .prepare(`SELECT ${cols} ORDER BY value ${mode === "max" ? "DESC" : "ASC"}, step LIMIT 1`)
    .get(pk, keyId) as MetricPoint | undefined;
  const { n } = db
    .prepare(
      "SELECT count(*) AS n FROM metrics WHERE run_pk = ? AND key_id = ? AND value IS NOT NULL",
    )
    .get(pk, keyId) as { n: number };
  return { runId, key, mode, final: final ?? null, best: best ?? null, count: n };
}

export function metricKeys(store: RunStore, runId: string): MetricKeyInfo[] {
  return libraryInternals(store)
    .db.prepare(
      `SELECT k.name AS key, count(*) AS count, min(m.step) AS firstStep, max(m.step) AS lastStep
       FROM metrics m JOIN metric_keys k ON k.id = m.key_id WHERE m.run_pk = ?
       GROUP BY m.key_id ORDER BY k.name`,
    )
    .all(libraryInternals(store).pk(runId)) as MetricKeyInfo[];
}
