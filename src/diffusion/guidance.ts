/**
 * Classifier-free guidance (spec section 4), in both conventions:
 * - scale g (seed / diffusers; g = 1 is no guidance): p̂ = p̂_u + g·(p̂_c − p̂_u)
 * - weight w (paper; w = 0 is no guidance):          p̂ = (1 + w)·p̂_c − w·p̂_u,   w = g − 1
 * and guidance rescale φ: p̂ ← φ·p̂·std(p̂_c)/std(p̂) + (1 − φ)·p̂, std over all axes but the batch.
 * The combination is linear, so it means the same for ε̂, x̂ and v̂ predictions.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConditionalDenoiser } from '../models/types';
import { ScheduleError } from '../errors';
import { perExample } from './coefficients';

/** A guidance strength: one number for the batch, or one per example ([B] float32). */
export type GuidanceStrength = number | tf.Tensor1D;

/** Guidance in either convention: `{ scale: g }` or `{ weight: w }` with w = g − 1. */
export type GuidanceSpec = { scale: GuidanceStrength } | { weight: GuidanceStrength };

function strengthOf(spec: GuidanceSpec): { value: GuidanceStrength; kind: 'scale' | 'weight' } {
  const s = spec as Record<string, unknown>;
  const hasScale = s !== null && typeof s === 'object' && 'scale' in s;
  const hasWeight = s !== null && typeof s === 'object' && 'weight' in s;
  if (hasScale === hasWeight) {
    throw new ScheduleError('guidance must give exactly one of "scale" (g, 1 = none) or "weight" (w = g − 1, 0 = none)');
  }
  const value = (hasScale ? s.scale : s.weight) as GuidanceStrength;
  if (typeof value === 'number' && !Number.isFinite(value)) throw new ScheduleError(`guidance ${hasScale ? 'scale' : 'weight'} must be a finite number (found ${value})`);
  return { value, kind: hasScale ? 'scale' : 'weight' };
}

/** The guidance scale g of a spec (a number, or a new [B] tensor owned by the caller). */
export function guidanceScale(spec: GuidanceSpec): GuidanceStrength {
  const { value, kind } = strengthOf(spec);
  if (kind === 'scale') return typeof value === 'number' ? value : tf.clone(value);
  return typeof value === 'number' ? value + 1 : (tf.add(value, 1) as tf.Tensor1D);
}

/** The guidance weight w = g − 1 of a spec (a number, or a new [B] tensor owned by the caller). */
export function guidanceWeight(spec: GuidanceSpec): GuidanceStrength {
  const { value, kind } = strengthOf(spec);
  if (kind === 'weight') return typeof value === 'number' ? value : tf.clone(value);
  return typeof value === 'number' ? value - 1 : (tf.sub(value, 1) as tf.Tensor1D);
}

/** True when the spec is the identity (g = 1): the unconditional pass can be skipped. Numbers only. */
export function isNoGuidance(spec: GuidanceSpec | undefined): boolean {
  if (spec === undefined) return true;
  const g = guidanceScale(spec);
  if (typeof g !== 'number') {
    g.dispose();
    return false;
  }
  return g === 1;
}

function checkRescale(phi: number): void {
  if (!(phi >= 0 && phi <= 1)) throw new ScheduleError(`guidance rescale φ must be in [0, 1] (found ${phi})`);
}

/** Per-example standard deviation over all axes but the batch, shaped [B, 1, 1, 1]. */
function stdPerExample(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sqrt(tf.moments(x, [1, 2, 3], true).variance) as tf.Tensor4D);
}

/** p̂ ← φ·p̂·std(p̂_c)/std(p̂) + (1 − φ)·p̂. Tidy. */
export function rescaleGuidance(guided: tf.Tensor4D, conditional: tf.Tensor4D, phi: number): tf.Tensor4D {
  checkRescale(phi);
  return tf.tidy(() => {
    const rescaled = tf.mul(guided, tf.div(stdPerExample(conditional), stdPerExample(guided)));
    return tf.add(tf.mul(phi, rescaled), tf.mul(1 - phi, guided)) as tf.Tensor4D;
  });
}

/** The guided prediction from the conditional and unconditional ones, with optional rescale φ. Tidy. */
export function combineGuidance(conditional: tf.Tensor4D, unconditional: tf.Tensor4D, guidance: GuidanceSpec, rescale?: number): tf.Tensor4D {
  if (rescale !== undefined) checkRescale(rescale);
  return tf.tidy(() => {
    const g = guidanceScale(guidance);
    const gScale = typeof g === 'number' ? g : perExample(g);
    const guided = tf.add(unconditional, tf.mul(gScale, tf.sub(conditional, unconditional))) as tf.Tensor4D;
    return rescale ? rescaleGuidance(guided, conditional, rescale) : guided;
  });
}

export interface GuidedPredictOptions {
  /** Absent: the conditional prediction alone (or w = 0 for a w-conditioned model). */
  guidance?: GuidanceSpec;
  /** Guidance rescale φ in [0, 1]; 0 or absent = none. */
  rescale?: number;
}

/**
 * The guided prediction of a denoiser at (z, t, labels).
 * - A model that takes the guidance weight (the stage-one student) gets w directly in one pass; its
 *   output is returned as is (guidance is built in; rescale does not apply and is refused).
 * - Otherwise, with guidance other than g = 1, the conditional and unconditional passes (the null label
 *   `model.nullClass`) are batched into ONE predict call of batch 2B, split, and combined.
 * Tidy: only the result survives.
 */
export function guidedPredict(model: ConditionalDenoiser, z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D, options: GuidedPredictOptions = {}): tf.Tensor4D {
  const { guidance, rescale } = options;
  if (rescale !== undefined) checkRescale(rescale);
  const batch = z.shape[0];
  return tf.tidy(() => {
    if (model.takesGuidanceWeight) {
      if (rescale) throw new ScheduleError('guidance rescale needs separate conditional and unconditional passes; this model takes the guidance weight w directly');
      const w = guidance === undefined ? 0 : guidanceWeight(guidance);
      const wTensor = typeof w === 'number' ? tf.fill([batch], w, 'float32') : w;
      return model.predict(z, t, labels, wTensor as tf.Tensor1D);
    }
    if (isNoGuidance(guidance)) return model.predict(z, t, labels);
    const zz = tf.concat([z, z], 0) as tf.Tensor4D;
    const tt = tf.concat([t, t], 0) as tf.Tensor1D;
    const nullLabels = tf.fill([batch], model.nullClass, labels.dtype);
    const ll = tf.concat([labels, nullLabels], 0) as tf.Tensor1D;
    const out = model.predict(zz, tt, ll);
    const [conditional, unconditional] = tf.split(out, [batch, batch], 0) as [tf.Tensor4D, tf.Tensor4D];
    return combineGuidance(conditional, unconditional, guidance!, rescale);
  });
}
