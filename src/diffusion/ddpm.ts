/**
 * One DDPM ancestral step: a draw from the Gaussian posterior q(z_prev | z_t, x̂) of the forward
 * process, for any pair of timesteps t > t_prev (skipping steps is allowed). With
 * alpha_t|prev = alpha-bar_t / alpha-bar_prev and beta_t|prev = 1 − alpha_t|prev:
 *   mean = sqrt(alpha-bar_prev)·beta_t|prev/(1 − alpha-bar_t) · x̂
 *        + sqrt(alpha_t|prev)·(1 − alpha-bar_prev)/(1 − alpha-bar_t) · z_t
 *   variance = (1 − alpha-bar_prev)/(1 − alpha-bar_t) · beta_t|prev
 * A negative t_prev means alpha-bar_prev = 1 (the chain ends on data; variance 0), whatever the
 * schedule's setAlphaToOne, as diffusers' DDPMScheduler does. This equals a DDIM step with eta = 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from '../models/types';
import { ScheduleError } from '../errors';
import { scheduleScale, type Timesteps } from './coefficients';
import { predictionToSampleAndNoise } from './predictions';
import type { NoiseSchedule } from './schedule';

export interface DdpmStepInput {
  z: tf.Tensor4D;
  prediction: tf.Tensor4D;
  predictionType: PredictionType;
  t: Timesteps;
  /** Negative = the end of the chain. */
  tPrev: Timesteps;
  /** Standard normal noise shaped like z. */
  noise: tf.Tensor4D;
  /** Clip x̂ to [−clip, clip] before forming the posterior mean. */
  clip?: number;
}

export type DdpmStepResult = {
  prev: tf.Tensor4D;
  x0: tf.Tensor4D;
};

export function ddpmStep(schedule: NoiseSchedule, input: DdpmStepInput): DdpmStepResult {
  if (!input.noise) throw new ScheduleError('a DDPM step needs standard normal noise (input.noise)');
  if (input.clip !== undefined && !(input.clip > 0)) throw new ScheduleError(`clip range must be > 0 (found ${input.clip})`);
  return tf.tidy(() => {
    const pair = predictionToSampleAndNoise(schedule, input.prediction, input.z, input.t, input.predictionType);
    const x0 = input.clip !== undefined ? (tf.clipByValue(pair.x0, -input.clip, input.clip) as tf.Tensor4D) : pair.x0;
    const abT = scheduleScale(schedule, 'alphaCumprod', input.t);
    const abPrev = scheduleScale(schedule, 'alphaCumprod', input.tPrev, { finalAlphaCumprod: 1 });
    const alphaStep = tf.div(abT, abPrev);
    const betaStep = tf.sub(1, alphaStep);
    const oneMinusAbT = tf.sub(1, abT);
    const oneMinusAbPrev = tf.sub(1, abPrev);
    const meanX0 = tf.div(tf.mul(tf.sqrt(abPrev), betaStep), oneMinusAbT);
    const meanZ = tf.div(tf.mul(tf.sqrt(alphaStep), oneMinusAbPrev), oneMinusAbT);
    const variance = tf.relu(tf.mul(tf.div(oneMinusAbPrev, oneMinusAbT), betaStep));
    const prev = tf.addN([tf.mul(meanX0, x0), tf.mul(meanZ, input.z), tf.mul(tf.sqrt(variance), input.noise)]) as tf.Tensor4D;
    return { prev, x0 };
  });
}
