/**
 * Seeded standard-normal noise for samplers, drawn with the project's generator (src/training/rng.ts:
 * pure JavaScript, so the same seed gives the same draws, in the same order, on every backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, randomNormal, type RngSeed } from '../training/rng';

/** A sequence of standard-normal tensors; each call advances the sequence. */
export interface NormalSource {
  normal(shape: readonly number[]): tf.Tensor;
}

/** Normal draws from `Rng.fromSeed(seed)`, or from a generator the caller manages (which it advances). */
export function seededNormalSource(seed: RngSeed | Rng): NormalSource {
  const rng = seed instanceof Rng ? seed : Rng.fromSeed(seed);
  return { normal: (shape) => randomNormal(rng, shape) };
}
