/**
 * Estimators of the gradient-noise level C (C^2 bounds the variance of one
 * example's stochastic gradient), so that delta = lr * C / sqrt(b) can be shown
 * in absolute terms. Both are plain arithmetic over squared gradient norms or
 * gradient vectors, so they are tested without a tensor library.
 */

/**
 * Two batch sizes (McCandlish et al. 2018, appendix A). With
 * E|g_B|^2 = |G|^2 + tr(Sigma) / B, squared norms measured at a small and a big
 * batch give unbiased estimates of |G|^2 and tr(Sigma) = C^2. Each single
 * estimate is very noisy, so both are smoothed with an EMA before C is taken
 * (the ratio of EMAs, not the EMA of ratios).
 */
export class TwoBatchNoiseEstimator {
  private gradSq = 0;
  private trace = 0;
  private weight = 0;
  private count = 0;

  /** @param beta EMA decay per observation (0.9: about the last 10 observations). */
  constructor(readonly beta = 0.9) {
    if (!(beta >= 0 && beta < 1)) throw new RangeError("EMA beta must be in [0, 1)");
  }

  /**
   * One observation: the squared norms of the mean gradient over a small batch
   * (size bSmall) and over a big batch (size bBig) taken at the same weights.
   */
  observe(bSmall: number, normSqSmall: number, bBig: number, normSqBig: number): void {
    if (!(bBig > bSmall && bSmall >= 1)) {
      throw new RangeError(`need 1 <= bSmall < bBig (got ${bSmall}, ${bBig})`);
    }
    if (!Number.isFinite(normSqSmall) || !Number.isFinite(normSqBig)) return;
    const gradSq = (bBig * normSqBig - bSmall * normSqSmall) / (bBig - bSmall);
    const trace = (normSqSmall - normSqBig) / (1 / bSmall - 1 / bBig);
    this.gradSq = this.beta * this.gradSq + (1 - this.beta) * gradSq;
    this.trace = this.beta * this.trace + (1 - this.beta) * trace;
    this.weight = this.beta * this.weight + (1 - this.beta);
    this.count++;
  }

  /** Number of observations so far. */
  get observations(): number {
    return this.count;
  }

  /** Debiased estimate of tr(Sigma) = C^2; undefined before the first observation. */
  get traceSigma(): number | undefined {
    return this.weight > 0 ? this.trace / this.weight : undefined;
  }

  /** Debiased estimate of |G|^2, the full gradient's squared norm. */
  get gradNormSq(): number | undefined {
    return this.weight > 0 ? this.gradSq / this.weight : undefined;
  }

  /** Estimate of C, or undefined while the estimate is missing or not positive yet. */
  get c(): number | undefined {
    const t = this.traceSigma;
    return t !== undefined && t > 0 ? Math.sqrt(t) : undefined;
  }

  /** For checkpoints. */
  getState(): { gradSq: number; trace: number; weight: number; count: number } {
    return { gradSq: this.gradSq, trace: this.trace, weight: this.weight, count: this.count };
  }

  setState(s: { gradSq: number; trace: number; weight: number; count: number }): void {
    this.gradSq = s.gradSq;
    this.trace = s.trace;
    this.weight = s.weight;
    this.count = s.count;
  }
}

/**
 * Direct estimate at a checkpoint: given the full (or large-sample) gradient g
 * and several mini-batch gradients g_B of batch size b,
 * C^2 ~= b * mean |g_B - g|^2. When g is the mean of those same K batches,
 * pass `fullIsBatchMean` to correct the 1 - 1/K shrinkage that causes.
 */
export function directNoiseEstimate(
  full: ArrayLike<number>,
  batches: readonly ArrayLike<number>[],
  batchSize: number,
  fullIsBatchMean = false,
): number {
  if (batches.length === 0) throw new RangeError("need at least one mini-batch gradient");
  let sum = 0;
  for (const g of batches) {
    if (g.length !== full.length) {
      throw new RangeError(`gradient sizes differ: ${g.length} vs ${full.length}`);
    }
    for (let i = 0; i < g.length; i++) {
      const d = (g[i] as number) - (full[i] as number);
      sum += d * d;
    }
  }
  const k = batches.length;
  if (fullIsBatchMean && k < 2)
    throw new RangeError("need at least two batches when g is their mean");
  const correction = fullIsBatchMean ? k / (k - 1) : 1;
  return Math.sqrt((correction * batchSize * sum) / k);
}
