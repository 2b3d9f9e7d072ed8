/**
 * Seeded pseudo-random numbers: sfc32 (Chris Doty-Humphrey's Small Fast
 * Counting generator, 128-bit state, passes PractRand to many TB), seeded by
 * hashing a seed *path* string. Pure JavaScript, no Node APIs.
 *
 * One seed drives everything: `Rng.from(42).fork("shuffle").fork(3)` is the
 * stream for epoch 3's shuffle. A child depends only on its parent's seed path
 * and the label, never on how many numbers the parent has drawn, so streams
 * can be created in any order and recreated after a restart.
 *
 * `getState()` returns a JSON-serialisable snapshot for checkpoints;
 * `Rng.fromState()` / `setState()` continue the stream exactly where it was.
 */

export interface RngState {
  /** The seed path this stream was created from, e.g. "42/shuffle/3". */
  readonly seed: string;
  /** The four 32-bit words of sfc32's state (unsigned). */
  readonly s: readonly [number, number, number, number];
}

const TWO_POW_32 = 4294967296;

export class Rng {
  readonly seed: string;
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  private constructor(seed: string) {
    this.seed = seed;
    const [a, b, c, d] = hash128(seed);
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    // Let the hashed state diffuse before the first output.
    for (let i = 0; i < 16; i++) this.nextU32();
  }

  /** A stream from a seed (a number or any string). Equal seeds give equal streams. */
  static from(seed: number | string): Rng {
    if (typeof seed === "number" && !Number.isFinite(seed)) {
      throw new RangeError(`Rng seed must be a finite number or a string, got ${seed}`);
    }
    return new Rng(String(seed));
  }

  /** Recreates a stream from `getState()` output. */
  static fromState(state: RngState): Rng {
    const rng = new Rng(String(state.seed));
    rng.setState(state);
    return rng;
  }

  /** An independent child stream named `label`. */
  fork(label: string | number): Rng {
    return new Rng(`${this.seed}/${String(label)}`);
  }

  getState(): RngState {
    return { seed: this.seed, s: [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0] };
  }

  /** Restores a snapshot taken from a stream with the same seed path. */
  setState(state: RngState): void {
    if (state.seed !== this.seed) {
      throw new Error(
        `Rng.setState: state belongs to seed "${state.seed}", this stream is "${this.seed}"; use Rng.fromState(state) to recreate it`,
      );
    }
    const s = state.s;
    if (
      !Array.isArray(s) ||
      s.length !== 4 ||
      !s.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32)
    ) {
      throw new Error(
        `Rng.setState: expected s to be 4 unsigned 32-bit integers, found ${JSON.stringify(s)}`,
      );
    }
    this.a = s[0] | 0;
    this.b = s[1] | 0;
    this.c = s[2] | 0;
    this.d = s[3] | 0;
  }

  /** A copy that continues identically without affecting this stream. */
  clone(): Rng {
    return Rng.fromState(this.getState());
  }

  /** Next raw output: an unsigned 32-bit integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [lo, hi) (default [0, 1)), 32 bits of randomness. */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * (this.nextU32() / TWO_POW_32);
  }

  /** Uniform integer in [0, n), unbiased. `n` must be an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new RangeError(`Rng.int(n): n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let u = this.nextU32();
    while (u >= limit) u = this.nextU32();
    return u % n;
  }

  /** True with probability p. */
  bernoulli(p = 0.5): boolean {
    return this.nextU32() / TWO_POW_32 < p;
  }

  /** Normal (Gaussian) sample by the Box-Muller transform; uses two draws. */
  normal(mean = 0, std = 1): number {
    const u1 = (this.nextU32() + 1) / TWO_POW_32; // (0, 1]: log is finite
    const u2 = this.nextU32() / TWO_POW_32;
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return this.shuffle(out);
  }
}

function fmix32(h: number): number {
  let x = h;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** 128 well-mixed bits from a string (four multiplicative lanes + murmur3 finaliser). */
function hash128(text: string): [number, number, number, number] {
  let a = 0x243f6a88;
  let b = 0x85a308d3;
  let c = 0x13198a2e;
  let d = 0x03707344;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    a = Math.imul(a ^ k, 0x01000193);
    b = Math.imul(b ^ k, 0x5bd1e995);
    c = Math.imul(c ^ k, 0x9e3779b1);
    d = Math.imul(d ^ k, 0x85ebca77);
    a ^= d >>> 15;
    b ^= a >>> 13;
    c ^= b >>> 17;
    d ^= c >>> 11;
  }
  a = fmix32(a ^ text.length);
  b = fmix32(b ^ a);
  c = fmix32(c ^ b);
  d = fmix32(d ^ c);
  return [a, b, c, d];
}
