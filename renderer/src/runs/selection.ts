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

/** Opens the compare view on these runs. */
export function openCompare(ids: string[]): void {
  saveSelection(ids);
  location.hash = "compare";
}
