/**
 * The degree of smoothing SGD applies to the loss (Sato & Iiduka):
 * delta = lr * C / sqrt(b), with C^2 the variance bound of one example's
 * stochastic gradient. With momentum beta (follow-up work):
 * delta = lr * sqrt(C^2/b + beta_hat * (C^2/b + K^2)),
 * beta_hat = beta (beta^2 - beta + 1) / (1 - beta)^2, K a bound on the gradient norm.
 */

export interface NoiseModel {
  /** Gradient-noise level C. */
  c: number;
  /** Momentum coefficient beta in [0, 1); 0 or absent: plain SGD. */
  momentum?: number | undefined;
  /** Bound K on the full gradient's norm (needed with momentum). */
  gradBound?: number | undefined;
}

export function betaHat(beta: number): number {
  return (beta * (beta * beta - beta + 1)) / (1 - beta) ** 2;
}

/** delta for learning rate lr and batch size b under the given noise model. */
export function delta(lr: number, batch: number, noise: NoiseModel): number {
  const beta = noise.momentum ?? 0;
  if (beta === 0) return (lr * noise.c) / Math.sqrt(batch);
  const variance = (noise.c * noise.c) / batch;
  const k = noise.gradBound ?? 0;
  return lr * Math.sqrt(variance + betaHat(beta) * (variance + k * k));
}

/** delta / delta_0 when C is unknown: the ratio does not depend on C (plain SGD). */
export function relativeDelta(lr: number, batch: number, lr0: number, batch0: number): number {
  return lr / Math.sqrt(batch) / (lr0 / Math.sqrt(batch0));
}

/** delta under a stage transition: eta *= kappa, b *= lambda gives delta *= kappa / sqrt(lambda). */
export function stageGamma(kappa: number, lambda: number): number {
  return kappa / Math.sqrt(lambda);
}
