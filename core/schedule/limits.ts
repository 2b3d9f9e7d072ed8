/**
 * Bounds on the work one schedule document can ask for. The compiler builds
 * per-epoch rows and per-step arrays, and the validator walks nested
 * schedules, so a document from a file, the app or the web host must not be
 * able to ask for billions of steps or a nesting deep enough to overflow the
 * stack. Every limit is checked before the work it bounds, with an error that
 * says which limit was hit and how to stay under it.
 */

/** Most epochs a schedule (or a training spec's `epochs` override) may have. */
export const MAX_EPOCHS = 100_000;

/**
 * Most optimizer steps (updates) the compiler produces for one schedule:
 * the sum over epochs of ceil(N / batch size). Checked before the per-step
 * arrays (about 24 bytes a step) are allocated.
 */
export const MAX_STEPS = 10_000_000;

/** Most levels of schedules inside schedules (`warmup.schedule`, `sequence.pieces[i].schedule`); the top-level `lr` is level 1. */
export const MAX_SCHEDULE_DEPTH = 16;

/**
 * Most levels of objects and arrays in a whole schedule document. A schedule
 * nested MAX_SCHEDULE_DEPTH levels deep needs about 50; this only stops
 * documents deep enough to overflow the stack of anything that walks them.
 */
export const MAX_DOCUMENT_DEPTH = 64;

/** 10000000 -> "10,000,000" for error messages. */
export function fmtCount(n: number): string {
  return n.toLocaleString("en-US");
}
