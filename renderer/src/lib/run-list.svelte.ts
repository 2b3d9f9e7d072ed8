/**
 * The library's run list, shared by the views that show every run (Library, Compare). A view that
 * opens draws the list it already has at once and asks for a fresh one in the background; while
 * any such view is open, changes (status, queue, finished epochs, imports) refresh it, at most a
 * few times a second. Switching tabs no longer waits for a `runs.list` round trip (~540 KB at
 * 200 runs) before the first row is drawn.
 */
import { untrack } from "svelte";
import { reuseUnchanged } from "../runs/reuse";
import type { Run } from "../runs/types";
import { client } from "./api";

/** Events that change what the list shows, gathered for this long before one refresh. */
const DEBOUNCE_MS = 300;
/** A view opened on a list the app already has: refreshed this long after (the view draws first). */
const REFRESH_AFTER_MS = 250;

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
    // A list already drawn is refreshed once the view has drawn it (its rows first); the first
    // list is asked for at once.
    // (untracked: views call this in an effect, which must not run again when the list loads)
    if (untrack(() => this.loaded)) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.refresh(), REFRESH_AFTER_MS);
    } else void this.refresh();
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

export const runList = new RunList();
