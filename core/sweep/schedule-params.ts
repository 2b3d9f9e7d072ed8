/**
 * A schedule document's base learning rate and batch size, read and set as a
 * sweep's `lr` and `batchSize` axes do: the rate and size the run starts
 * from, the rest of the shape kept (a step decay stays a step decay from the
 * new LR). Works on the document as written (before defaults are filled in).
 *
 * - lr: `lr` of the LR families; onecycle: `maxLr`; keyframes: every point
 *   scaled so the first is the new LR; warmup: its inner schedule's; a
 *   sequence: every piece scaled by the same factor; smoothing: `smoothing.lr`.
 * - batch: `size` of the batch families (polynomial: `end` scaled with it);
 *   keyframes: every point scaled (rounded); smoothing: `smoothing.batch`.
 */

type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => v !== null && typeof v === "object" && !Array.isArray(v);

export class ScheduleParamError extends Error {}

function lrOf(lane: Doc): number {
  switch (lane.kind) {
    case "onecycle":
      return lane.maxLr as number;
    case "keyframes":
      return (lane.points as { value: number }[])[0]?.value as number;
    case "warmup":
      return lrOf(lane.schedule as Doc);
    case "sequence":
      return lrOf((lane.pieces as { schedule: Doc }[])[0]?.schedule as Doc);
    default:
      return lane.lr as number;
  }
}

function scaleLr(lane: Doc, factor: number): Doc {
  switch (lane.kind) {
    case "onecycle":
      return { ...lane, maxLr: (lane.maxLr as number) * factor };
    case "keyframes":
      return {
        ...lane,
        points: (lane.points as Doc[]).map((p) => ({ ...p, value: (p.value as number) * factor })),
      };
    case "warmup":
      return { ...lane, schedule: scaleLr(lane.schedule as Doc, factor) };
    case "sequence":
      return {
        ...lane,
        pieces: (lane.pieces as Doc[]).map((p) => ({
          ...p,
          schedule: scaleLr(p.schedule as Doc, factor),
        })),
      };
    default:
      return { ...lane, lr: (lane.lr as number) * factor };
  }
}

/** The learning rate the schedule starts from (its base), or null when the document has none. */
export function scheduleLr(schedule: unknown): number | null {
  if (!isObject(schedule)) return null;
  if (isObject(schedule.smoothing)) return num(schedule.smoothing.lr);
  if (!isObject(schedule.lr)) return null;
  try {
    return num(lrOf(schedule.lr));
  } catch {
    return null;
  }
}

/** The batch size the schedule starts from, or null. */
export function scheduleBatch(schedule: unknown): number | null {
  if (!isObject(schedule)) return null;
  if (isObject(schedule.smoothing)) return num(schedule.smoothing.batch);
  const lane = schedule.batch;
  if (!isObject(lane)) return null;
  if (lane.kind === "keyframes")
    return num((lane.points as { value?: unknown }[] | undefined)?.[0]?.value);
  return num(lane.size);
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** A copy of the schedule starting at learning rate `lr`. */
export function withLr(schedule: Doc, lr: number): Doc {
  if (isObject(schedule.smoothing))
    return { ...schedule, smoothing: { ...schedule.smoothing, lr } };
  const now = scheduleLr(schedule);
  if (now === null || now <= 0 || !isObject(schedule.lr))
    throw new ScheduleParamError(
      "the schedule has no learning rate to set (no lr lane or smoothing)",
    );
  const lane = schedule.lr;
  const simple = !["onecycle", "keyframes", "warmup", "sequence"].includes(String(lane.kind));
  return { ...schedule, lr: simple ? { ...lane, lr } : scaleLr(lane, lr / now) };
}

/** A copy of the schedule starting at batch size `size` (a whole number >= 1). */
export function withBatch(schedule: Doc, size: number): Doc {
  if (!Number.isInteger(size) || size < 1)
    throw new ScheduleParamError(`a batch size must be a whole number >= 1 (got ${size})`);
  if (isObject(schedule.smoothing))
    return { ...schedule, smoothing: { ...schedule.smoothing, batch: size } };
  const lane = schedule.batch;
  const now = scheduleBatch(schedule);
  if (!isObject(lane) || now === null || now <= 0)
    throw new ScheduleParamError(
      "the schedule has no batch size to set (no batch lane or smoothing)",
    );
  const factor = size / now;
  if (lane.kind === "keyframes")
    return {
      ...schedule,
      batch: {
        ...lane,
        points: (lane.points as Doc[]).map((p) => ({
          ...p,
          value: Math.max(1, Math.round((p.value as number) * factor)),
        })),
      },
    };
  if (lane.kind === "polynomial" && typeof lane.end === "number")
    return {
      ...schedule,
      batch: { ...lane, size, end: Math.max(1, Math.round(lane.end * factor)) },
    };
  return { ...schedule, batch: { ...lane, size } };
}
