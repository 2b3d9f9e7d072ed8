/** Run colors: a categorical palette (Tableau 10), then evenly spread hues. */
const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

export function runColor(i: number): string {
  if (i < PALETTE.length) return PALETTE[i] as string;
  const hue = Math.round((i * 137.508) % 360);
  return `hsl(${hue}, 60%, 45%)`;
}

/** The color with an alpha (for the faint raw line and the band): #rrggbb or hsl(). */
export function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (m) {
    const [r, g, b] = [m[1], m[2], m[3]].map((h) => Number.parseInt(h as string, 16));
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  const h = /^hsl\((.*)\)$/.exec(color);
  if (h) return `hsla(${h[1]}, ${alpha})`;
  return color;
}
