/**
 * One DDIM step (spec section 3), shared by the samplers and by the stage-two target computation:
 *   z_prev = a_prev·x̂ + sqrt(1 − alpha-bar_prev − σ²)·ε̂ + σ·noise,
 *   σ = eta·sqrt((1 − alpha-bar_prev)/(1 − alpha-bar_t) · (1 − alpha-bar_t/alpha-bar_prev)).
 * With eta = 0 (the distillation's case) this is z_prev = a_prev·x̂ + s_prev·ε̂. A negative t_prev uses
 * the schedule's final alpha-bar. Tidy and differentiable in z and the prediction.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from '../models/types';
import { ScheduleError } from '../errors';
import { scheduleScale, type Timesteps } from './coefficients';
import { predictionToSampleAndNoise } from './predictions';
import type { NoiseSchedule } from './schedule';

export interface DdimStepInput {
  /** z_t, [B, H, W, C]. */
  z: tf.Tensor4D;
  /** The network output at (z_t, t). */
  prediction: tf.Tensor4D;
  predictionType: PredictionType;
  /** Current timestep per example (or one for all). */
  t: Timesteps;
  /** Timestep to land on per example (or one for all); negative = final. */
  tPrev: Timesteps;
  /** DDIM eta in [0, 1]; 0 (deterministic) by default. */
  eta?: number;
  /** Standard normal noise shaped like z; required when eta > 0. */
  noise?: tf.Tensor4D;
  /** Clip x̂ to [−clip, clip] (the noise direction keeps the unclipped ε̂, as diffusers does by default). */
  clip?: number;
}

/** The new state and the (x̂, ε̂) the step used. All three are owned by the caller. */
export type DdimStepResult = {
  prev: tf.Tensor4D;
  x0: tf.Tensor4D;
  eps: tf.Tensor4D;
};

export function ddimStep(schedule: NoiseSchedule, input: DdimStepInput): DdimStepResult {
  const eta = input.eta ?? 0;
  if (!(eta >= 0 && eta <= 1)) throw new ScheduleError(`DDIM eta must be in [0, 1] (found ${eta})`);
  if (eta > 0 && !input.noise) throw new ScheduleError('a DDIM step with eta > 0 needs standard normal noise (input.noise)');
  if (input.clip !== undefined && !(input.clip > 0)) throw new ScheduleError(`clip range must be > 0 (found ${input.clip})`);
  return tf.tidy(() => {
    const pair = predictionToSampleAndNoise(schedule, input.prediction, input.z, input.t, input.predictionType);
    const x0 = input.clip !== undefined ? (tf.clipByValue(pair.x0, -input.clip, input.clip) as tf.Tensor4D) : pair.x0;
    const abPrev = scheduleScale(schedule, 'alphaCumprod', input.tPrev);
    const aPrev = tf.sqrt(abPrev);
    let prev: tf.Tensor4D;
    if (eta === 0) {
      prev = tf.add(tf.mul(aPrev, x0), tf.mul(tf.sqrt(tf.sub(1, abPrev)), pair.eps)) as tf.Tensor4D;
    } else {
      const abT = scheduleScale(schedule, 'alphaCumprod', input.t);
      const variance = tf.mul(tf.div(tf.sub(1, abPrev), tf.sub(1, abT)), tf.sub(1, tf.div(abT, abPrev)));
      const sigma = tf.mul(eta, tf.sqrt(variance));
      const direction = tf.sqrt(tf.relu(tf.sub(tf.sub(1, abPrev), tf.square(sigma))));
      prev = tf.addN([tf.mul(aPrev, x0), tf.mul(direction, pair.eps), tf.mul(sigma, input.noise!)]) as tf.Tensor4D;
    }
    return { prev, x0, eps: pair.eps };
  });
}
