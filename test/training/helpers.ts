import * as tf from '@tensorflow/tfjs-core';

/** A variable that owns its initial value (the initial tensor is disposed). */
export function variable(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t);
  t.dispose();
  return v;
}

/** Asserts |actual[i] − expected[i]| ≤ tol for every i. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  if (actual.length !== expected.length) throw new Error(`${what} length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      throw new Error(`${what}[${i}]: ${actual[i]} vs expected ${expected[i]} (tolerance ${tol})`);
    }
  }
}
