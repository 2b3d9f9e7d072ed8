/**
 * Long lists drawn as a window: only the rows in (and near) the scroll container's view are in the
 * page, with space above and below standing in for the others (@tanstack/virtual-core does the
 * arithmetic and follows scrolling and resizing). A 200-run Library table was ~18,000 DOM nodes
 * and ~0.8 s to open; a sweep's thousands of runs would be seconds more.
 *
 * Usage in a component: `const rows = new VirtualRows(() => wrap, ROW_HEIGHT)`, `$effect(() => rows.attach())`,
 * `$effect(() => rows.setCount(list.length))`, then draw `rows.items` between spacers of
 * `rows.before` and `rows.after` pixels.
 */
import {
  elementScroll,
  observeElementOffset,
  observeElementRect,
  type VirtualItem,
  Virtualizer,
} from "@tanstack/virtual-core";

/** Rows drawn beyond the view on each side, so a quick scroll does not show blank space. */
const OVERSCAN = 5;

export class VirtualRows {
  /** The rows to draw: index into the list, and where each starts. */
  items = $state.raw<VirtualItem[]>([]);
  /** Height of the space above the first drawn row and below the last, in px. */
  before = $state(0);
  after = $state(0);
  /** Height of all rows, drawn or not, in px (a container sized by its content can use it). */
  total = $state(0);
  readonly #v: Virtualizer<HTMLElement, HTMLElement>;

  /**
   * getScroll: the scrolling element holding the rows (bounded height, overflow auto).
   * rowHeight: every row's height in px (the component's CSS fixes it: measuring each drawn row
   * forced a layout per row, ~60 ms for a screenful).
   * viewHeight: the height assumed before the container is measured (the first screenful).
   */
  constructor(
    getScroll: () => HTMLElement | null,
    rowHeight: number,
    viewHeight = window.innerHeight,
  ) {
    this.#v = new Virtualizer<HTMLElement, HTMLElement>({
      count: 0,
      getScrollElement: getScroll,
      estimateSize: () => rowHeight,
      overscan: OVERSCAN,
      scrollToFn: elementScroll,
      observeElementRect,
      observeElementOffset,
      initialRect: { width: 0, height: viewHeight },
      onChange: () => this.#publish(),
    });
  }

  /** Starts following the container (call from an effect; returns the cleanup). */
  attach(): () => void {
    const cleanup = this.#v._didMount();
    this.#v._willUpdate();
    this.#publish();
    return cleanup;
  }

  /** The list's length changed. */
  setCount(count: number): void {
    if (this.#v.options.count === count) return;
    this.#v.setOptions({ ...this.#v.options, count });
    this.#v._willUpdate();
    this.#publish();
  }

  /** Brings a row into view (keyboard navigation, a row opened from elsewhere). */
  scrollTo(index: number): void {
    this.#v.scrollToIndex(index, { align: "auto" });
  }

  #publish() {
    const items = this.#v.getVirtualItems();
    const total = this.#v.getTotalSize();
    this.items = items;
    this.total = total;
    const first = items[0];
    const last = items[items.length - 1];
    this.before = first ? first.start : 0;
    this.after = last ? Math.max(0, total - last.end) : 0;
  }
}
