/** Shared helpers of the model tests. */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { WeightModule } from '../../src/models/types';

export const GOLDEN_DIR = path.join(__dirname, '..', 'fixtures', 'ldm-golden');

/** Max |a − b| as a number (tensors must have equal shapes). */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** NCHW → NHWC (4-D) or unchanged. */
export function toNhwc(t: tf.Tensor): tf.Tensor {
  return t.rank === 4 ? tf.transpose(t, [0, 2, 3, 1]) : t.clone();
}

/**
 * Re-draws every parameter from N(0, std²) with a fixed seed. Used before gradient-flow checks: at the
 * PyTorch-default init the zero-initialised output layers (LDM's zero_module) make every upstream
 * gradient exactly zero, which would hide a broken connection.
 */
export function randomizeWeights(model: WeightModule, seed: number, std = 0.2): void {
  let i = 0;
  for (const v of model.variables.values()) {
    const r = tf.randomNormal(v.shape, 0, std, 'float32', seed + i++);
    v.assign(r);
    r.dispose();
  }
}

/** A deterministic pseudo-random tensor. */
export function seededNormal(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}
