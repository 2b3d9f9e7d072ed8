/**
 * The runs chosen for comparison, shared by the library (its "Compare"
 * button) and the compare view, kept in localStorage so a reload keeps them.
 */
const KEY = "sgd-studio.compare.runs";

export function loadSelection(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

export function saveSelection(ids: string[]): void {
  try {
    localStorage.setItem(KEY, JSON.stringify([...new Set(ids)]));
  } catch {
    // Storage full or disabled: the selection lasts until the page closes.
  }
}

const AXIS_KEY = "sgd-studio.compare.axis";

/**
 * The x axis the compare view last drew this selection on (the default axis depends on the runs'
 * specs, known only once the run list arrives): lets a reload ask for the series at once.
 */
export function loadAxisFor(ids: readonly string[]): string | null {
  try {
    const v = JSON.parse(localStorage.getItem(AXIS_KEY) ?? "null") as {
      runs?: unknown;
      x?: unknown;
    };
    return v && v.runs === ids.join(",") && typeof v.x === "string" ? v.x : null;
  } catch {
    return null;
  }
}

export function saveAxisFor(ids: readonly string[], x: string): void {
  try {
    localStorage.setItem(AXIS_KEY, JSON.stringify({ runs: ids.join(","), x }));
  } catch {
    // Storage full or disabled: the next load waits for the run list.
  }
}

/** Opens the compare view on these runs. */
export function openCompare(ids: string[]): void {
  saveSelection(ids);
  location.hash = "compare";
}
