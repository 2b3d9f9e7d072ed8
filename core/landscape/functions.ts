/**
 * Two-dimensional test functions with known global minima (Surjanovic &
 * Bingham's Virtual Library of Simulation Experiments lists them all), their
 * gradients, and the smoothed function f_delta(x) = E_u[f(x - delta u)] in
 * closed form where one exists (Rastrigin, Styblinski-Tang, Himmelblau: the
 * expectation of a polynomial, or of a cosine, needs only the noise
 * distribution's moments and characteristic function; see kernels.ts).
 */
import type { Kernel } from "./kernels.js";

export type LandscapeFunctionName =
  | "rastrigin"
  | "drop-wave"
  | "ackley"
  | "styblinski-tang"
  | "himmelblau";

export const FUNCTION_NAMES: readonly LandscapeFunctionName[] = [
  "rastrigin",
  "drop-wave",
  "ackley",
  "styblinski-tang",
  "himmelblau",
];

export interface TestFunction {
  name: LandscapeFunctionName;
  title: string;
  /** The formula, for people. */
  formula: string;
  /** The square [lo, hi]^2 that is shown, that random starts are drawn from, and that the simulated SGD is projected onto. */
  domain: { lo: number; hi: number };
  /** Every global minimiser (Himmelblau has four). */
  minima: readonly (readonly [number, number])[];
  /** The global minimum value f*. */
  minValue: number;
  value(x: number, y: number): number;
  /** Writes the gradient into out[0], out[1] (a subgradient where f has a kink). */
  gradient(x: number, y: number, out: Float64Array): void;
  /** f_delta in closed form, or null when only Monte Carlo can compute it. */
  smoothed: ((x: number, y: number, delta: number, kernel: Kernel) => number) | null;
}

const TAU = 2 * Math.PI;

const rastrigin: Omit<TestFunction, "minima" | "minValue"> & { minima: [number, number][] } = {
  name: "rastrigin",
  title: "Rastrigin",
  formula: "20 + sum_i (x_i^2 - 10 cos(2 pi x_i))",
  domain: { lo: -5.12, hi: 5.12 },
  minima: [[0, 0]],
  value: (x, y) => 20 + x * x - 10 * Math.cos(TAU * x) + y * y - 10 * Math.cos(TAU * y),
  gradient: (x, y, out) => {
    out[0] = 2 * x + 20 * Math.PI * Math.sin(TAU * x);
    out[1] = 2 * y + 20 * Math.PI * Math.sin(TAU * y);
  },
  // E[(x - d u)^2] = x^2 + d^2 m2; E[cos(2 pi (x - d u))] = cos(2 pi x) phi(2 pi d).
  smoothed: (x, y, d, k) => {
    const damp = k.charFn(TAU * d);
    const s2 = d * d * k.m2;
    return (
      20 + x * x + s2 - 10 * Math.cos(TAU * x) * damp + y * y + s2 - 10 * Math.cos(TAU * y) * damp
    );
  },
};

const dropWave: Omit<TestFunction, "minima" | "minValue"> & { minima: [number, number][] } = {
  name: "drop-wave",
  title: "Drop-Wave",
  formula: "-(1 + cos(12 r)) / (0.5 r^2 + 2), r = ||x||",
  domain: { lo: -2, hi: 2 },
  minima: [[0, 0]],
  value: (x, y) => {
    const r2 = x * x + y * y;
    return -(1 + Math.cos(12 * Math.sqrt(r2))) / (0.5 * r2 + 2);
  },
  gradient: (x, y, out) => {
    const r2 = x * x + y * y;
    const r = Math.sqrt(r2);
    const den = 0.5 * r2 + 2;
    const num = 1 + Math.cos(12 * r);
    // sin(12 r) / r, with its limit 12 at r = 0.
    const sinOverR = r < 1e-6 ? 12 * (1 - (144 * r2) / 6) : Math.sin(12 * r) / r;
    // df/dr / r = (12 sin(12 r)/r * den + num) / den^2
    const g = (12 * sinOverR * den + num) / (den * den);
    out[0] = g * x;
    out[1] = g * y;
  },
  smoothed: null,
};

const ackley: Omit<TestFunction, "minima" | "minValue"> & { minima: [number, number][] } = {
  name: "ackley",
  title: "Ackley",
  formula: "-20 exp(-0.2 sqrt((x^2 + y^2)/2)) - exp((cos 2 pi x + cos 2 pi y)/2) + e + 20",
  domain: { lo: -5, hi: 5 },
  minima: [[0, 0]],
  value: (x, y) =>
    -20 * Math.exp(-0.2 * Math.sqrt(0.5 * (x * x + y * y))) -
    Math.exp(0.5 * (Math.cos(TAU * x) + Math.cos(TAU * y))) +
    Math.E +
    20,
  gradient: (x, y, out) => {
    const s = Math.sqrt(0.5 * (x * x + y * y));
    const e1 = Math.exp(-0.2 * s);
    const e2 = Math.exp(0.5 * (Math.cos(TAU * x) + Math.cos(TAU * y)));
    // The cone at the origin: subgradient 0 there.
    const cone = s > 0 ? (2 * e1) / s : 0;
    out[0] = cone * x + Math.PI * Math.sin(TAU * x) * e2;
    out[1] = cone * y + Math.PI * Math.sin(TAU * y) * e2;
  },
  smoothed: null,
};

const styblinskiTang: Omit<TestFunction, "minima" | "minValue"> & {
  minima: [number, number][];
} = {
  name: "styblinski-tang",
  title: "Styblinski-Tang",
  formula: "sum_i (x_i^4 - 16 x_i^2 + 5 x_i) / 2",
  domain: { lo: -5, hi: 5 },
  minima: [[-2.903534, -2.903534]],
  value: (x, y) => {
    const x2 = x * x;
    const y2 = y * y;
    return 0.5 * (x2 * x2 - 16 * x2 + 5 * x + y2 * y2 - 16 * y2 + 5 * y);
  },
  gradient: (x, y, out) => {
    out[0] = 2 * x * x * x - 16 * x + 2.5;
    out[1] = 2 * y * y * y - 16 * y + 2.5;
  },
  // E[(x - d u)^4] = x^4 + 6 x^2 d^2 m2 + d^4 m4 (odd moments vanish).
  smoothed: (x, y, d, k) => {
    const d2 = d * d;
    const one = (t: number) =>
      t ** 4 + 6 * t * t * d2 * k.m2 + d2 * d2 * k.m4 - 16 * (t * t + d2 * k.m2) + 5 * t;
    return 0.5 * (one(x) + one(y));
  },
};

const himmelblau: Omit<TestFunction, "minima" | "minValue"> & { minima: [number, number][] } = {
  name: "himmelblau",
  title: "Himmelblau",
  formula: "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
  domain: { lo: -5, hi: 5 },
  minima: [
    [3, 2],
    [-2.805118, 3.131312],
    [-3.77931, -3.283186],
    [3.584428, -1.848126],
  ],
  value: (x, y) => (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2,
  gradient: (x, y, out) => {
    const a = x * x + y - 11;
    const b = x + y * y - 7;
    out[0] = 4 * x * a + 2 * b;
    out[1] = 2 * a + 4 * y * b;
  },
  // With A = X^2 + Y - 11, X = x - d u1, Y = y - d u2: E[A^2] = (E A)^2 + Var A,
  // E A = x^2 + d^2 m2 + y - 11, Var A = 4 x^2 d^2 m2 + d^4 (m4 - m2^2) + d^2 m2
  // (the cross terms are odd in u2 and vanish); the same for B with x and y swapped.
  smoothed: (x, y, d, k) => {
    const d2 = d * d;
    const s2 = d2 * k.m2;
    const quartic = d2 * d2 * (k.m4 - k.m2 * k.m2);
    const a = x * x + s2 + y - 11;
    const b = x + y * y + s2 - 7;
    return a * a + 4 * x * x * s2 + quartic + s2 + b * b + 4 * y * y * s2 + quartic + s2;
  },
};

/** Refines a stationary point by Newton's method on the gradient (finite-difference Hessian). */
function refineMinimum(
  f: Pick<TestFunction, "gradient">,
  start: readonly [number, number],
): [number, number] {
  let x = start[0];
  let y = start[1];
  const g = new Float64Array(2);
  const gx = new Float64Array(2);
  const gy = new Float64Array(2);
  const h = 1e-6;
  for (let it = 0; it < 50; it++) {
    f.gradient(x, y, g);
    f.gradient(x + h, y, gx);
    f.gradient(x, y + h, gy);
    const a = ((gx[0] as number) - (g[0] as number)) / h;
    const b = ((gy[0] as number) - (g[0] as number)) / h;
    const c = ((gx[1] as number) - (g[1] as number)) / h;
    const d = ((gy[1] as number) - (g[1] as number)) / h;
    const det = a * d - b * c;
    if (!(Math.abs(det) > 0)) break;
    const dx = (d * (g[0] as number) - b * (g[1] as number)) / det;
    const dy = (-c * (g[0] as number) + a * (g[1] as number)) / det;
    x -= dx;
    y -= dy;
    if (Math.abs(dx) + Math.abs(dy) < 1e-15) break;
  }
  return [x, y];
}

function finish(
  f: Omit<TestFunction, "minima" | "minValue"> & { minima: [number, number][] },
): TestFunction {
  // The published minimisers have 6 decimals; polish them to machine precision.
  const minima = f.minima.map((m) => refineMinimum(f, m));
  const values = minima.map(([x, y]) => f.value(x, y));
  return { ...f, minima, minValue: Math.min(...values) };
}

export const FUNCTIONS: Record<LandscapeFunctionName, TestFunction> = {
  rastrigin: finish(rastrigin),
  "drop-wave": finish(dropWave),
  ackley: { ...ackley, minima: [[0, 0]], minValue: 0 },
  "styblinski-tang": finish(styblinskiTang),
  himmelblau: finish(himmelblau),
};

export function functionOf(name: string): TestFunction {
  const f = (FUNCTIONS as Record<string, TestFunction | undefined>)[name];
  if (!f) {
    throw new Error(`unknown test function "${name}"; use one of ${FUNCTION_NAMES.join(", ")}`);
  }
  return f;
}

/** The distance from (x, y) to the nearest global minimiser. */
export function distanceToMinimum(f: TestFunction, x: number, y: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (const [mx, my] of f.minima) {
    const d = Math.hypot(x - mx, y - my);
    if (d < best) best = d;
  }
  return best;
}
