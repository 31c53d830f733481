/**
 * Loss helpers for the training stages. The SNR weightings are functions of a [B] tensor of
 * SNR_t = a_t² / s_t² (spec section 1) and weight a per-example MSE in x (sample) space:
 *
 *   x̂ − x = −s_t·(v̂ − v)  and  x̂ − x = −(s_t/a_t)·(ε̂ − ε)   (for the same z_t),
 *   so  (1 + SNR)·‖x̂ − x‖² = ‖v̂ − v‖²   and   SNR·‖x̂ − x‖² = ‖ε̂ − ε‖².
 *
 * - truncated SNR  max(SNR, 1)    — the seed's stage-two weight (spec 5.3)
 * - min-SNR-γ      min(SNR, γ)
 * - SNR + 1        1 + SNR        — equals the v-space MSE
 * - unweighted     1
 *
 * The seed's `--snr_weight_mode` weights are applied to the MSE of the stage's own target as it is (v or ε
 * for the denoising losses, x̃ for the stage-two distillation loss), not converted to x space:
 *
 * - target_min_snr        min(SNR, γ)/SNR  — the seed's `max` (min-SNR-γ as diffusers writes it, = min(1, γ/SNR))
 * - target_truncated_snr  max(SNR, 1)      — the seed's `truncated`
 * - target_snr_plus_one   1 + SNR          — the seed's `plus1`
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';

export const SNR_WEIGHTINGS = ['truncated_snr', 'min_snr', 'snr_plus_one', 'unweighted'] as const;
export type SnrWeighting = (typeof SNR_WEIGHTINGS)[number];

export const TARGET_SNR_WEIGHTINGS = ['target_min_snr', 'target_truncated_snr', 'target_snr_plus_one'] as const;
export type TargetSnrWeighting = (typeof TARGET_SNR_WEIGHTINGS)[number];

export function isTargetSnrWeighting(kind: string): kind is TargetSnrWeighting {
  return (TARGET_SNR_WEIGHTINGS as readonly string[]).includes(kind);
}

/** Mean of (pred − target)² over every axis but the first: [B]. */
export function perExampleMse(pred: tf.Tensor, target: tf.Tensor): tf.Tensor1D {
  if (!tf.util.arraysEqual(pred.shape, target.shape)) {
    throw new ConfigError('loss inputs', [{ path: '', message: 'prediction and target shapes differ',
      expected: `[${target.shape}]`, found: `[${pred.shape}]` }]);
  }
  if (pred.rank < 1) {
    throw new ConfigError('loss inputs', [{ path: '', message: 'inputs need a batch axis', found: `rank ${pred.rank}` }]);
  }
  return tf.tidy(() => {
    const sq = tf.squaredDifference(pred, target);
    const axes = Array.from({ length: pred.rank - 1 }, (_, i) => i + 1);
    return (axes.length ? tf.mean(sq, axes) : sq) as tf.Tensor1D;
  });
}

/** mean_b(weight_b · mse_b); the plain MSE when `weights` is absent. */
export function weightedMse(pred: tf.Tensor, target: tf.Tensor, weights?: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const perExample = perExampleMse(pred, target);
    if (!weights) return tf.mean(perExample) as tf.Scalar;
    if (weights.rank !== 1 || weights.shape[0] !== perExample.shape[0]) {
      throw new ConfigError('loss inputs', [{ path: 'weights', message: 'weights must be [B]',
        expected: `[${perExample.shape[0]}]`, found: `[${weights.shape}]` }]);
    }
    return tf.mean(tf.mul(perExample, weights)) as tf.Scalar;
  });
}

/** max(SNR, 1). */
export function truncatedSnrWeight(snr: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.maximum(snr, 1) as tf.Tensor1D);
}

/** min(SNR, γ); γ > 0 (5 is the usual choice). */
export function minSnrWeight(snr: tf.Tensor1D, gamma: number): tf.Tensor1D {
  if (!(gamma > 0) || !Number.isFinite(gamma)) {
    throw new ConfigError('min-SNR weighting', [{ path: 'gamma', message: 'must be a positive number', found: String(gamma) }]);
  }
  return tf.tidy(() => tf.minimum(snr, gamma) as tf.Tensor1D);
}

/** 1 + SNR (makes the x-space MSE equal to the v-space MSE). */
export function snrPlusOneWeight(snr: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.add(snr, 1) as tf.Tensor1D);
}

/** All ones. */
export function unitWeight(snr: tf.Tensor1D): tf.Tensor1D {
  return tf.onesLike(snr) as tf.Tensor1D;
}

/** The weighting named `kind` (gamma is used only by, and required for, "min_snr"). */
export function snrWeight(kind: SnrWeighting, snr: tf.Tensor1D, gamma?: number): tf.Tensor1D {
  switch (kind) {
    case 'truncated_snr':
      return truncatedSnrWeight(snr);
    case 'min_snr':
      if (gamma === undefined) {
        throw new ConfigError('min-SNR weighting', [{ path: 'gamma', message: 'is required for "min_snr"' }]);
      }
      return minSnrWeight(snr, gamma);
    case 'snr_plus_one':
      return snrPlusOneWeight(snr);
    case 'unweighted':
      return unitWeight(snr);
    default:
      throw new ConfigError('SNR weighting', [{ path: 'kind', message: 'unknown weighting',
        expected: SNR_WEIGHTINGS.map((k) => `"${k}"`).join(' | '), found: JSON.stringify(kind) }]);
  }
}

/**
 * The seed's weights (`--snr_weight_mode`) for the MSE of the stage's target as it is: target_min_snr
 * min(SNR, γ)/SNR, written min(1, γ/SNR) so that SNR = 0 gives 1 rather than 0/0; target_truncated_snr
 * max(SNR, 1); target_snr_plus_one 1 + SNR. γ is required for target_min_snr.
 */
export function targetSnrWeight(kind: TargetSnrWeighting, snr: tf.Tensor1D, gamma?: number): tf.Tensor1D {
  switch (kind) {
    case 'target_min_snr':
      if (gamma === undefined || !(gamma > 0) || !Number.isFinite(gamma)) {
        throw new ConfigError('min-SNR weighting', [{ path: 'gamma', message: 'must be a positive number for "target_min_snr"', found: String(gamma) }]);
      }
      return tf.tidy(() => tf.minimum(tf.div(gamma, snr), 1) as tf.Tensor1D);
    case 'target_truncated_snr':
      return truncatedSnrWeight(snr);
    case 'target_snr_plus_one':
      return snrPlusOneWeight(snr);
    default:
      throw new ConfigError('SNR weighting', [{ path: 'kind', message: 'unknown weighting',
        expected: TARGET_SNR_WEIGHTINGS.map((k) => `"${k}"`).join(' | '), found: JSON.stringify(kind) }]);
  }
}
