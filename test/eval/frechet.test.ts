import { strict as assert } from 'node:assert';
import { Matrix } from 'ml-matrix';
import { featureStats, frechetDistance, symmetricSqrt, type GaussianStats } from '../../src/eval/frechet';
import { uniformGenerator } from '../../src/data/random';

function gaussianRows(count: number, dim: number, seed: number, shift: number[], scale: number[]): Float64Array {
  const next = uniformGenerator(seed);
  const out = new Float64Array(count * dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) {
      // Box–Muller.
      const u = Math.max(next(), 1e-12);
      const v = next();
      out[i * dim + j] = shift[j] + scale[j] * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
  }
  return out;
}

function stats(mean: number[], cov: number[][]): GaussianStats {
  return { mean: Float64Array.from(mean), cov: Float64Array.from(cov.flat()), dim: mean.length, count: 0 };
}

describe('eval/frechet', () => {
  it('computes mean and unbiased covariance by hand on three rows', () => {
    // rows (1,2), (3,2), (5,8): mean (3,4); deviations (-2,-2),(0,-2),(2,4); cov = [[8,12],[12,24]]/2.
    const s = featureStats([1, 2, 3, 2, 5, 8], 3, 2);
    assert.deepEqual(Array.from(s.mean), [3, 4]);
    assert.deepEqual(Array.from(s.cov), [4, 6, 6, 12]);
  });

  it('gives ~0 for identical feature sets (tolerance 1e-8)', () => {
    const rows = gaussianRows(400, 6, 7, [0, 1, 2, 3, 4, 5], [1, 2, 0.5, 1, 3, 1]);
    const s = featureStats(rows, 400, 6);
    assert.ok(frechetDistance(s, s) < 1e-8, `got ${frechetDistance(s, s)}`);
  });

  it('matches the closed form for diagonal Gaussians: |Δμ|² + Σ(σ1 − σ2)² (tolerance 1e-9)', () => {
    // For commuting covariances tr((Σ1^½Σ2Σ1^½)^½) = Σ σ1σ2, so d² = |Δμ|² + Σ (σ1 − σ2)².
    const a = stats([0, 0, 0], [[1, 0, 0], [0, 4, 0], [0, 0, 9]]);
    const b = stats([1, 2, -2], [[4, 0, 0], [0, 4, 0], [0, 0, 1]]);
    const expected = (1 + 4 + 4) + ((1 - 2) ** 2 + 0 + (3 - 1) ** 2);
    assert.ok(Math.abs(frechetDistance(a, b) - expected) < 1e-9, `got ${frechetDistance(a, b)}, expected ${expected}`);
  });

  it('is shift-only for equal non-diagonal covariances and symmetric in its arguments', () => {
    const cov = [[2, 0.8, 0.3], [0.8, 1.5, -0.4], [0.3, -0.4, 1]];
    const a = stats([0, 0, 0], cov);
    const b = stats([0.5, -1, 2], cov);
    assert.ok(Math.abs(frechetDistance(a, b) - (0.25 + 1 + 4)) < 1e-9);
    const c = stats([1, 1, 1], [[1, 0.2, 0], [0.2, 3, 0.5], [0, 0.5, 2]]);
    assert.ok(Math.abs(frechetDistance(a, c) - frechetDistance(c, a)) < 1e-9);
  });

  it('approaches the closed form from samples of shifted Gaussians (20k rows, tolerance 0.1)', () => {
    const dim = 4;
    const s1 = featureStats(gaussianRows(20000, dim, 1, [0, 0, 0, 0], [1, 1, 1, 1]), 20000, dim);
    const s2 = featureStats(gaussianRows(20000, dim, 2, [1, 0, 0, 0], [1, 1, 1, 1]), 20000, dim);
    // Closed form: shift 1 in one axis, identical unit covariances → d² = 1.
    assert.ok(Math.abs(frechetDistance(s1, s2) - 1) < 0.1, `got ${frechetDistance(s1, s2)}`);
  });

  it('takes the square root of a symmetric matrix: R·R = M (tolerance 1e-10)', () => {
    const m = new Matrix([[4, 1, 0], [1, 3, 1], [0, 1, 2]]);
    const r = symmetricSqrt(m);
    const back = r.mmul(r);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assert.ok(Math.abs(back.get(i, j) - m.get(i, j)) < 1e-10);
  });

  it('rejects mismatched dimensions with a clear message', () => {
    assert.throws(() => frechetDistance(stats([0], [[1]]), stats([0, 0], [[1, 0], [0, 1]])), /both feature sets need the same dimension \(expected 1, found 2\)/);
  });
});
