/**
 * The library's run list, shared by the views that show every run (Library, Compare). A view that
 * opens draws the list it already has at once and asks for a fresh one in the background; while
 * any such view is open, changes (status, queue, finished epochs, imports) refresh it, at most a
 * few times a second. Switching tabs no longer waits for a `runs.list` round trip (~540 KB at
 * 200 runs) before the first row is drawn.
 */
import type { Run } from "../runs/types";
import { client } from "./api";

/** Events that change what the list shows, gathered for this long before one refresh. */
const DEBOUNCE_MS = 300;

class RunList {
  /** The runs, newest first as the store lists them; [] until the first answer. */
  runs = $state.raw<Run[]>([]);
  /** The store has answered at least once. */
  loaded = $state(false);
  error = $state<string | null>(null);
  #users = 0;
  #off: (() => void) | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #asked = 0;

  /** A view that shows the list opened: refresh now, and on changes while it stays open. */
  use(): () => void {
    this.#users++;
    if (this.#users === 1)
      this.#off = client.on((e) => {
        const relevant =
          e.type === "run.status" ||
          e.type === "queue.changed" ||
          (e.type === "run.event" && (e.event.type === "epoch" || e.event.type === "summary"));
        if (relevant) this.soon();
      });
    void this.refresh();
    return () => {
      this.#users--;
      if (this.#users === 0) {
        this.#off?.();
        this.#off = null;
        clearTimeout(this.#timer);
      }
    };
  }

  /** Refresh after the burst of events settles. */
  soon(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.refresh(), DEBOUNCE_MS);
  }

  /** Asks the store now; an answer older than a later question is dropped. */
  async refresh(): Promise<Run[]> {
    const ask = ++this.#asked;
    try {
      const runs = await client.call("runs.list", {});
      if (ask === this.#asked) {
        const next = reuseUnchanged(this.runs, runs);
        if (next !== this.runs) this.runs = next;
        this.loaded = true;
        this.error = null;
      }
    } catch (err) {
      if (ask === this.#asked) this.error = (err as Error).message ?? String(err);
    }
    return this.runs;
  }
}

/**
 * The fresh list, keeping the old object of every run that did not change (and the old array when
 * none did): the views' charts and tables depend on these objects, and a background refresh that
 * changed nothing must not redraw 100 runs' charts.
 */
export function reuseUnchanged(old: Run[], fresh: Run[]): Run[] {
  const before = new Map(old.map((r) => [r.id, r]));
  let same = old.length === fresh.length;
  const out = fresh.map((r, i) => {
    const o = before.get(r.id);
    if (o && JSON.stringify(o) === JSON.stringify(r)) {
      if (old[i] !== o) same = false;
      return o;
    }
    same = false;
    return r;
  });
  return same ? old : out;
}

export const runList = new RunList();
