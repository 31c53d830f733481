/**
 * Seeded standard-normal noise for samplers: the same seed gives the same draws, in the same order,
 * on every backend (TensorFlow.js draws seeded normals on the JavaScript side).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ScheduleError } from '../errors';

/** A sequence of standard-normal tensors; each call advances the sequence. */
export interface NormalSource {
  normal(shape: number[]): tf.Tensor;
}

/** A 32-bit mix of the seed and a draw counter (splitmix32-style), so consecutive draws are unrelated. */
function mixSeed(seed: number, counter: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(counter + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A seeded source: draw k uses seed mix(seed, k). */
export function seededNormalSource(seed: number): NormalSource {
  if (!Number.isSafeInteger(seed)) throw new ScheduleError(`noise seed must be an integer (found ${seed})`);
  let counter = 0;
  return {
    normal(shape: number[]): tf.Tensor {
      return tf.randomNormal(shape, 0, 1, 'float32', mixSeed(seed, counter++));
    },
  };
}
