/**
 * Per-example schedule coefficients as tensors: gather alpha-bar, a_t, s_t, SNR or log-SNR for a [B]
 * tensor of timesteps, shaped [B, 1, 1, 1] to scale NHWC tensors. Timesteps may be float32 (integer
 * valued, as ConditionalDenoiser takes them) or int32; a negative timestep means "final".
 *
 * Nothing is cached as a tensor: each call uploads the small table inside the caller's tidy scope.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from './schedule';

/** A timestep for every example ([B] tensor), or one timestep shared by all (a number). */
export type Timesteps = tf.Tensor1D | number;

export type ScheduleQuantity = 'alphaCumprod' | 'signalScale' | 'noiseScale' | 'snr' | 'logSnr';

export interface GatherOptions {
  /** alpha-bar to use for t < 0 instead of the schedule's final alpha-bar (DDPM always ends at 1). */
  finalAlphaCumprod?: number;
}

function quantityOf(alphaCumprod: number, q: ScheduleQuantity): number {
  switch (q) {
    case 'alphaCumprod':
      return alphaCumprod;
    case 'signalScale':
      return Math.sqrt(alphaCumprod);
    case 'noiseScale':
      return Math.sqrt(1 - alphaCumprod);
    case 'snr':
      return alphaCumprod / (1 - alphaCumprod);
    case 'logSnr':
      return Math.log(alphaCumprod / (1 - alphaCumprod));
  }
}

const tables = new WeakMap<NoiseSchedule, Map<string, Float32Array>>();

/** [final, q(0), q(1), …, q(T−1)]: index t + 1, with every t < 0 clipped to the final entry. */
function tableFor(schedule: NoiseSchedule, q: ScheduleQuantity, final: number): Float32Array {
  let perSchedule = tables.get(schedule);
  if (!perSchedule) tables.set(schedule, (perSchedule = new Map()));
  const key = `${q}:${final}`;
  let table = perSchedule.get(key);
  if (!table) {
    table = new Float32Array(schedule.numTrainTimesteps + 1);
    table[0] = quantityOf(final, q);
    schedule.alphasCumprod.forEach((ab, t) => (table![t + 1] = quantityOf(ab, q)));
    perSchedule.set(key, table);
  }
  return table;
}

/** A schedule quantity per example: [B] for a [B] tensor of timesteps, [1] for a number. */
export function gatherSchedule(schedule: NoiseSchedule, quantity: ScheduleQuantity, t: Timesteps, options: GatherOptions = {}): tf.Tensor1D {
  const final = options.finalAlphaCumprod ?? schedule.finalAlphaCumprod;
  if (typeof t === 'number') {
    const ab = t < 0 ? final : schedule.alphaCumprodAt(t);
    return tf.tensor1d([quantityOf(ab, quantity)], 'float32');
  }
  const table = tableFor(schedule, quantity, final);
  return tf.tidy(() => {
    const index = tf.add(tf.clipByValue(tf.cast(t, 'int32'), -1, schedule.numTrainTimesteps - 1), tf.scalar(1, 'int32'));
    return tf.gather(tf.tensor1d(table, 'float32'), index) as tf.Tensor1D;
  });
}

/** A [B] (or [1]) vector reshaped to [B, 1, 1, 1] so it scales NHWC tensors per example. */
export function perExample(v: tf.Tensor1D | number): tf.Tensor4D {
  if (typeof v === 'number') return tf.tensor4d([v], [1, 1, 1, 1], 'float32');
  return tf.reshape(v, [-1, 1, 1, 1]) as tf.Tensor4D;
}

/** A schedule quantity shaped [B, 1, 1, 1] (or [1, 1, 1, 1] for a number timestep). */
export function scheduleScale(schedule: NoiseSchedule, quantity: ScheduleQuantity, t: Timesteps, options: GatherOptions = {}): tf.Tensor4D {
  return tf.tidy(() => perExample(gatherSchedule(schedule, quantity, t, options)));
}
