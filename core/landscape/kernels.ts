/**
 * Noise distributions u for the smoothed function f_delta(x) = E_u[f(x - delta u)]
 * (Sato & Iiduka, section 1) and for the simulated gradient noise, in 2-D.
 *
 * - `gaussian`: u ~ N(0, I), each coordinate standard normal (so delta is the
 *   per-coordinate standard deviation of the shift).
 * - `ball`: u uniform on the unit disk ||u|| <= 1 (the paper's bounded noise),
 *   so delta is the largest shift.
 *
 * The closed forms of the smoothed functions only need the marginal of one
 * coordinate u_1: its second and fourth moments (m2, m4) and its
 * characteristic function phi(t) = E[cos(t u_1)] (the marginal is symmetric).
 */
import type { Rng } from "../data/rng.js";

export type KernelName = "gaussian" | "ball";
export const KERNEL_NAMES: readonly KernelName[] = ["gaussian", "ball"];

export interface Kernel {
  name: KernelName;
  title: string;
  /** E[u_1^2]. */
  m2: number;
  /** E[u_1^4]. */
  m4: number;
  /** E[cos(t u_1)], the characteristic function of one coordinate. */
  charFn(t: number): number;
  /** Draws u into out[0], out[1]. */
  sample(rng: Rng, out: Float64Array): void;
}

const TWO_POW_32 = 4294967296;
const TAU = 2 * Math.PI;

/** Two independent standard normals (Box-Muller, both branches). */
function gaussianPair(rng: Rng, out: Float64Array): void {
  const u1 = (rng.nextU32() + 1) / TWO_POW_32; // (0, 1]: log is finite
  const u2 = rng.nextU32() / TWO_POW_32;
  const r = Math.sqrt(-2 * Math.log(u1));
  out[0] = r * Math.cos(TAU * u2);
  out[1] = r * Math.sin(TAU * u2);
}

/** A point uniform on the unit disk, by rejection from the square (accepts pi/4 of the draws). */
function diskPoint(rng: Rng, out: Float64Array): void {
  for (;;) {
    const x = (2 * rng.nextU32()) / TWO_POW_32 - 1;
    const y = (2 * rng.nextU32()) / TWO_POW_32 - 1;
    if (x * x + y * y <= 1) {
      out[0] = x;
      out[1] = y;
      return;
    }
  }
}

/**
 * Bessel function of the first kind, order 1, from its integral
 * J1(z) = (1/pi) int_0^pi cos(tau - z sin tau) d tau by the trapezoid rule:
 * the integrand extends to a smooth periodic function, so the rule converges
 * exponentially once the number of nodes exceeds |z| by a margin.
 */
export function besselJ1(z: number): number {
  const n = 48 + Math.ceil(Math.abs(z));
  const h = Math.PI / n;
  let s = 0.5 * (Math.cos(0) + Math.cos(Math.PI)); // endpoints: cos(0) and cos(pi - 0)
  for (let i = 1; i < n; i++) {
    const tau = i * h;
    s += Math.cos(tau - z * Math.sin(tau));
  }
  return (s * h) / Math.PI;
}

export const KERNELS: Record<KernelName, Kernel> = {
  gaussian: {
    name: "gaussian",
    title: "Gaussian, u ~ N(0, I)",
    m2: 1,
    m4: 3,
    charFn: (t) => Math.exp(-0.5 * t * t),
    sample: gaussianPair,
  },
  ball: {
    name: "ball",
    title: "uniform on the unit disk, ||u|| <= 1",
    // u_1 has density (2/pi) sqrt(1 - t^2) on [-1, 1].
    m2: 1 / 4,
    m4: 1 / 8,
    charFn: (t) => {
      const a = Math.abs(t);
      if (a < 1e-3) return 1 - (a * a) / 8 + (a * a * a * a) / 192;
      return (2 * besselJ1(a)) / a;
    },
    sample: diskPoint,
  },
};

export function kernelOf(name: KernelName): Kernel {
  const k = KERNELS[name];
  if (!k) throw new Error(`unknown noise distribution "${name}"; use ${KERNEL_NAMES.join(" or ")}`);
  return k;
}
