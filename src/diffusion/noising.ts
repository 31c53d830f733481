/**
 * The forward process (spec section 1) and the v target (spec section 2), on NHWC tensors with a
 * timestep per example. Differentiable in x and ε; tidy (only the result survives).
 */
import * as tf from '@tensorflow/tfjs-core';
import { scheduleScale, type Timesteps } from './coefficients';
import type { NoiseSchedule } from './schedule';

/** z_t = a_t·x + s_t·ε. x, eps: [B, H, W, C]; t: [B] (or one number for all). */
export function addNoise(schedule: NoiseSchedule, x: tf.Tensor4D, eps: tf.Tensor4D, t: Timesteps): tf.Tensor4D {
  return tf.tidy(() => {
    const a = scheduleScale(schedule, 'signalScale', t);
    const s = scheduleScale(schedule, 'noiseScale', t);
    return tf.add(tf.mul(a, x), tf.mul(s, eps)) as tf.Tensor4D;
  });
}

/** v = a_t·ε − s_t·x, the v-prediction target. */
export function velocity(schedule: NoiseSchedule, x: tf.Tensor4D, eps: tf.Tensor4D, t: Timesteps): tf.Tensor4D {
  return tf.tidy(() => {
    const a = scheduleScale(schedule, 'signalScale', t);
    const s = scheduleScale(schedule, 'noiseScale', t);
    return tf.sub(tf.mul(a, eps), tf.mul(s, x)) as tf.Tensor4D;
  });
}
