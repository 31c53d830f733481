/** Small helpers shared by the diffusion tests. */
import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import type { ConditionalDenoiser, PredictionType } from '../../src/models/types';

/** Deterministic, irregular test values (no RNG needed): sin of a scaled index. */
export function wave(n: number, phase: number, scale = 1): number[] {
  return Array.from({ length: n }, (_, i) => scale * Math.sin(1.7 * i + phase) + 0.3 * Math.cos(0.37 * i * i + phase));
}

/** Asserts every element of `actual` is within `tol` of `expected`. */
export function assertClose(actual: tf.Tensor | number[] | Float32Array, expected: ArrayLike<number>, tol: number, what = ''): void {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  assert.equal(a.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - expected[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} at ${at} (actual ${a[at]}, expected ${expected[at]}) > ${tol}`);
}

/** Runs fn and asserts it leaves tf.memory().numTensors where it was. */
export function assertNoLeak(fn: () => void): void {
  const before = tf.memory().numTensors;
  fn();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
}

/** A call a test denoiser received. */
export interface RecordedCall {
  batch: number;
  t: number[];
  labels: number[];
  w?: number[];
}

/**
 * A denoiser whose output is an exact function of its inputs, for tests: `fn` maps (z, t, labels, w)
 * to its prediction. It records every call.
 */
export class FunctionDenoiser implements ConditionalDenoiser {
  readonly calls: RecordedCall[] = [];
  constructor(
    readonly predictionType: PredictionType,
    private readonly fn: (z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D, w?: tf.Tensor1D) => tf.Tensor4D,
    readonly numClasses = 4,
    readonly nullClass = 3,
    readonly takesGuidanceWeight = false,
  ) {}

  predict(z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D, w?: tf.Tensor1D): tf.Tensor4D {
    this.calls.push({
      batch: z.shape[0],
      t: Array.from(t.dataSync()),
      labels: Array.from(labels.dataSync()),
      w: w ? Array.from(w.dataSync()) : undefined,
    });
    return tf.tidy(() => this.fn(z, t, labels, w));
  }
}
