/**
 * Undo/redo over immutable values (schedule documents).
 *
 * `commit(next)` records a step. A gesture that produces many intermediate
 * values (dragging a keyframe, sliding the split, typing a number) goes through
 * `preview(next)`: the value changes at once, and the next `commit()` records
 * the whole gesture as one step; `cancel()` returns to where it started.
 */
export class History<T> {
  private past: T[] = [];
  private future: T[] = [];
  private current: T;
  /** The value before the gesture under way, if any. */
  private gestureStart: T | null = null;

  constructor(
    initial: T,
    private readonly limit = 200,
    private readonly equal: (a: T, b: T) => boolean = (a, b) => a === b,
  ) {
    this.current = initial;
  }

  get present(): T {
    return this.current;
  }

  get canUndo(): boolean {
    return this.past.length > 0 || this.gestureStart !== null;
  }

  get canRedo(): boolean {
    return this.future.length > 0 && this.gestureStart === null;
  }

  /** True while a gesture started by preview() awaits commit() or cancel(). */
  get pending(): boolean {
    return this.gestureStart !== null;
  }

  /** Shows a value without recording it yet (part of a gesture). */
  preview(next: T): void {
    if (this.gestureStart === null) this.gestureStart = this.current;
    this.current = next;
  }

  /**
   * Records a step: the gesture under way (ending at `next` when given), or
   * `next` alone. A step that changes nothing is not recorded.
   */
  commit(next?: T): void {
    const before = this.gestureStart ?? this.current;
    this.gestureStart = null;
    if (next !== undefined) this.current = next;
    if (this.equal(before, this.current)) return;
    this.past.push(before);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }

  /** Abandons the gesture under way. */
  cancel(): void {
    if (this.gestureStart === null) return;
    this.current = this.gestureStart;
    this.gestureStart = null;
  }

  undo(): boolean {
    if (this.gestureStart !== null) this.commit();
    const prev = this.past.pop();
    if (prev === undefined) return false;
    this.future.push(this.current);
    this.current = prev;
    return true;
  }

  redo(): boolean {
    if (this.gestureStart !== null) return false;
    const next = this.future.pop();
    if (next === undefined) return false;
    this.past.push(this.current);
    this.current = next;
    return true;
  }

  /** Starts over from a value (e.g. a different document), forgetting the history. */
  reset(value: T): void {
    this.past = [];
    this.future = [];
    this.gestureStart = null;
    this.current = value;
  }
}
