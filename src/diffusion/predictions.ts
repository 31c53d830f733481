/**
 * Conversions between the three meanings of a network output (spec section 2), with z = z_t, a = a_t,
 * s = s_t gathered per example:
 *   epsilon: x̂ = (z − s·ε̂)/a          sample: ε̂ = (z − a·x̂)/s          v: x̂ = a·z − s·v̂, ε̂ = s·z + a·v̂
 *   and v̂ = a·ε̂ − s·x̂ from any pair.
 * All functions are tidy and differentiable in the prediction and in z. Timesteps must be real
 * timesteps (0 … T−1), not "final".
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from '../models/types';
import { ScheduleError } from '../errors';
import { scheduleScale, type Timesteps } from './coefficients';
import type { NoiseSchedule } from './schedule';

/** The (x̂, ε̂) pair a prediction implies at z_t. */
export type SampleAndNoise = {
  x0: tf.Tensor4D;
  eps: tf.Tensor4D;
};

function checkType(type: PredictionType): void {
  if (type !== 'epsilon' && type !== 'sample' && type !== 'v_prediction') {
    throw new ScheduleError(`unknown prediction type ${JSON.stringify(type)} (expected "epsilon", "sample" or "v_prediction")`);
  }
}

/** x̂ and ε̂ from a prediction of the given type. Both are new tensors owned by the caller. */
export function predictionToSampleAndNoise(
  schedule: NoiseSchedule,
  prediction: tf.Tensor4D,
  z: tf.Tensor4D,
  t: Timesteps,
  type: PredictionType,
): SampleAndNoise {
  checkType(type);
  return tf.tidy(() => {
    const a = scheduleScale(schedule, 'signalScale', t);
    const s = scheduleScale(schedule, 'noiseScale', t);
    switch (type) {
      case 'epsilon':
        return { x0: tf.div(tf.sub(z, tf.mul(s, prediction)), a) as tf.Tensor4D, eps: tf.clone(prediction) };
      case 'sample':
        return { x0: tf.clone(prediction), eps: tf.div(tf.sub(z, tf.mul(a, prediction)), s) as tf.Tensor4D };
      case 'v_prediction':
        return {
          x0: tf.sub(tf.mul(a, z), tf.mul(s, prediction)) as tf.Tensor4D,
          eps: tf.add(tf.mul(s, z), tf.mul(a, prediction)) as tf.Tensor4D,
        };
    }
  });
}

/** Re-expresses a prediction of type `from` as type `to` (identity when equal, as a copy). */
export function convertPrediction(
  schedule: NoiseSchedule,
  prediction: tf.Tensor4D,
  z: tf.Tensor4D,
  t: Timesteps,
  from: PredictionType,
  to: PredictionType,
): tf.Tensor4D {
  checkType(from);
  checkType(to);
  if (from === to) return tf.clone(prediction);
  return tf.tidy(() => {
    const a = scheduleScale(schedule, 'signalScale', t);
    const s = scheduleScale(schedule, 'noiseScale', t);
    // Direct formulas for each of the six pairs (fewer roundings than going through (x̂, ε̂)).
    if (from === 'epsilon' && to === 'sample') return tf.div(tf.sub(z, tf.mul(s, prediction)), a) as tf.Tensor4D;
    if (from === 'sample' && to === 'epsilon') return tf.div(tf.sub(z, tf.mul(a, prediction)), s) as tf.Tensor4D;
    if (from === 'v_prediction' && to === 'sample') return tf.sub(tf.mul(a, z), tf.mul(s, prediction)) as tf.Tensor4D;
    if (from === 'v_prediction' && to === 'epsilon') return tf.add(tf.mul(s, z), tf.mul(a, prediction)) as tf.Tensor4D;
    // to v: v = a·ε̂ − s·x̂.
    const { x0, eps } = predictionToSampleAndNoise(schedule, prediction, z, t, from);
    return tf.sub(tf.mul(a, eps), tf.mul(s, x0)) as tf.Tensor4D;
  });
}

/** x̂ from a prediction (shorthand for convertPrediction(…, type, 'sample')). */
export function predictSample(schedule: NoiseSchedule, prediction: tf.Tensor4D, z: tf.Tensor4D, t: Timesteps, type: PredictionType): tf.Tensor4D {
  return convertPrediction(schedule, prediction, z, t, type, 'sample');
}

/** ε̂ from a prediction. */
export function predictEpsilon(schedule: NoiseSchedule, prediction: tf.Tensor4D, z: tf.Tensor4D, t: Timesteps, type: PredictionType): tf.Tensor4D {
  return convertPrediction(schedule, prediction, z, t, type, 'epsilon');
}

/** v̂ from a prediction. */
export function predictVelocity(schedule: NoiseSchedule, prediction: tf.Tensor4D, z: tf.Tensor4D, t: Timesteps, type: PredictionType): tf.Tensor4D {
  return convertPrediction(schedule, prediction, z, t, type, 'v_prediction');
}
