/**
 * Fréchet distance between two Gaussians fitted to feature sets (FID when the features come from an
 * image classifier), in float64:
 *   d² = |μ1 − μ2|² + tr(Σ1) + tr(Σ2) − 2·tr((Σ1^½ Σ2 Σ1^½)^½)
 * The trace term uses the symmetric form Σ1^½ Σ2 Σ1^½ (similar to Σ1Σ2, so the same eigenvalues), whose
 * square root is taken through a symmetric eigendecomposition: no complex parts, no iteration.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { ConfigError } from '../errors';

export interface GaussianStats {
  mean: Float64Array;
  /** Covariance, row-major [D, D], unbiased (divides by N − 1). */
  cov: Float64Array;
  dim: number;
  count: number;
}

/** Mean and unbiased covariance of `count` feature rows of length `dim`. */
export function featureStats(features: ArrayLike<number>, count: number, dim: number): GaussianStats {
  if (features.length !== count * dim) {
    throw new ConfigError('feature statistics', [{ path: 'features', message: 'feature count does not match count × dim', expected: String(count * dim), found: String(features.length) }]);
  }
  if (count < 2) throw new ConfigError('feature statistics', [{ path: 'count', message: 'a covariance needs at least 2 feature rows', found: String(count) }]);
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= count;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) row[j] = features[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const base = a * dim;
      for (let b = a; b < dim; b++) cov[base + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (count - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { mean, cov, dim, count };
}

function toMatrix(values: Float64Array, dim: number): Matrix {
  const m = new Matrix(dim, dim);
  for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) m.set(a, b, values[a * dim + b]);
  return m;
}

/** Square root of a symmetric positive semi-definite matrix; eigenvalues below 0 (round-off) count as 0. */
export function symmetricSqrt(m: Matrix): Matrix {
  const sym = m.add(m.transpose()).mul(0.5);
  const evd = new EigenvalueDecomposition(sym, { assumeSymmetric: true });
  const vectors = evd.eigenvectorMatrix;
  const roots = evd.realEigenvalues.map((l) => Math.sqrt(Math.max(l, 0)));
  const scaled = vectors.clone();
  for (let i = 0; i < scaled.rows; i++) for (let j = 0; j < scaled.columns; j++) scaled.set(i, j, scaled.get(i, j) * roots[j]);
  return scaled.mmul(vectors.transpose());
}

/** Trace of the square root of Σ1^½ Σ2 Σ1^½ (the sum of the roots of its eigenvalues). */
function traceSqrtProduct(s1: Matrix, s2: Matrix): number {
  const root1 = symmetricSqrt(s1);
  const product = root1.mmul(s2).mmul(root1);
  const sym = product.add(product.transpose()).mul(0.5);
  const evd = new EigenvalueDecomposition(sym, { assumeSymmetric: true });
  return evd.realEigenvalues.reduce((acc, l) => acc + Math.sqrt(Math.max(l, 0)), 0);
}

/** The Fréchet distance d² between N(μ1, Σ1) and N(μ2, Σ2). */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.dim !== b.dim) {
    throw new ConfigError('Fréchet distance', [{ path: 'dim', message: 'both feature sets need the same dimension', expected: String(a.dim), found: String(b.dim) }]);
  }
  const dim = a.dim;
  let meanTerm = 0;
  for (let j = 0; j < dim; j++) meanTerm += (a.mean[j] - b.mean[j]) ** 2;
  let traces = 0;
  for (let j = 0; j < dim; j++) traces += a.cov[j * dim + j] + b.cov[j * dim + j];
  const cross = traceSqrtProduct(toMatrix(a.cov, dim), toMatrix(b.cov, dim));
  // Round-off can leave a tiny negative number for identical sets.
  return Math.max(meanTerm + traces - 2 * cross, 0);
}
