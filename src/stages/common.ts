/**
 * Pieces the denoising stages share: reading a bounded part of a batch stream, the per-step random
 * draws, the denoising loss with its weighting options, and the evaluation loss on held-out data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { skip, take, type Observable } from 'rxjs';
import { consume } from '../runtime/stream';
import type { Batch } from '../data/batch';
import type { ArrayDataset } from '../data/dataset';
import { gatherExamples } from '../data/dataset';
import { Rng, randomInt, randomNormal } from '../training/rng';
import { snrWeight, weightedMse, type SnrWeighting } from '../training/losses';
import { addNoise, velocity } from '../diffusion/noising';
import { gatherSchedule } from '../diffusion/coefficients';
import { predictSample } from '../diffusion/predictions';
import type { NoiseSchedule } from '../diffusion/schedule';
import type { PredictionType } from '../models/types';
import { ConfigError } from '../errors';

/** How a denoising loss is weighted. */
export type LossWeighting = 'target' | SnrWeighting;
export const LOSS_WEIGHTINGS: readonly LossWeighting[] = ['target', 'truncated_snr', 'min_snr', 'snr_plus_one', 'unweighted'];

export const LOSS_WEIGHTING_DESCRIPTION =
  'Loss form: "target" = plain MSE on the model\'s own target (ε for epsilon models, v for v models); the others are the x-space MSE ' +
  'weighted per example by "truncated_snr" max(SNR, 1) (the seed\'s stage-two loss), "min_snr" min(SNR, γ), "snr_plus_one" 1 + SNR ' +
  '(equal to the v-MSE) or "unweighted" 1.';

/** A batch's tensors kept beyond the stream's ownership (the stream disposes its own). */
export interface HeldBatch {
  x: tf.Tensor4D;
  labels: tf.Tensor1D;
  index: number;
}

export function holdBatch(b: Batch): HeldBatch {
  return { x: b.x.clone(), labels: b.labels.clone(), index: b.index };
}

export function releaseBatch(b: HeldBatch): void {
  b.x.dispose();
  b.labels.dispose();
}

/**
 * Calls `handler` for batches [from, to) of a stream (counted from the stream's first batch), one at a
 * time, and resolves when the last one has been handled. Earlier batches are skipped (a resumed stage
 * passes the number it had already used).
 */
export function forEachBatch(stream: Observable<Batch>, from: number, to: number,
  handler: (b: Batch) => Promise<void> | void, signal?: AbortSignal): Promise<void> {
  if (to <= from) return Promise.resolve();
  return consume(stream.pipe(skip(from), take(to - from)), handler, signal);
}

/** The random draws of one micro-batch: a stateless stream per (stage, step, micro-batch). */
export function stepRng(seed: number, stage: string, step: number, micro = 0): Rng {
  return Rng.fromSeed(seed).fork(stage).fork(`${step}.${micro}`);
}

/** In a data-parallel run, the rank's shard of the global batch's draws (Rng.sharded); otherwise `rng`. */
export function shardRng(rng: Rng, distributed?: { group: { rank: number; worldSize: number } }): Rng {
  return distributed && distributed.group.worldSize > 1 ? rng.sharded(distributed.group.rank, distributed.group.worldSize) : rng;
}

export interface DenoisingLossOptions {
  weighting: LossWeighting;
  /** γ of min_snr. */
  minSnrGamma?: number;
}

function checkPrediction(type: PredictionType): void {
  if (type !== 'epsilon' && type !== 'v_prediction' && type !== 'sample') {
    throw new ConfigError('denoising loss', [{ path: 'predictionType', message: 'unknown prediction type', found: String(type) }]);
  }
}

/**
 * The ordinary denoising loss of a prediction at z_t = a_t·x + s_t·ε against the data (x, ε): MSE on
 * the model's own target, or the SNR-weighted x-space MSE.
 */
export function denoisingLoss(schedule: NoiseSchedule, prediction: tf.Tensor4D, type: PredictionType, x: tf.Tensor4D, eps: tf.Tensor4D,
  z: tf.Tensor4D, t: tf.Tensor1D, options: DenoisingLossOptions): tf.Scalar {
  checkPrediction(type);
  return tf.tidy(() => {
    if (options.weighting === 'target') {
      const target = type === 'epsilon' ? eps : type === 'sample' ? x : velocity(schedule, x, eps, t);
      return weightedMse(prediction, target);
    }
    const xHat = predictSample(schedule, prediction, z, t, type);
    const w = snrWeight(options.weighting, gatherSchedule(schedule, 'snr', t), options.minSnrGamma);
    return weightedMse(xHat, x, w);
  });
}

/** Noise, timesteps and noisy inputs of one micro-batch. */
export interface NoisedBatch {
  eps: tf.Tensor4D;
  t: tf.Tensor1D;
  z: tf.Tensor4D;
}

/** ε ~ N(0, I), t ~ U{0 … T−1}, z_t: drawn from `rng` (new tensors, owned by the caller). */
export function drawNoised(schedule: NoiseSchedule, x: tf.Tensor4D, rng: Rng): NoisedBatch {
  const eps = randomNormal(rng.fork('eps'), x.shape) as tf.Tensor4D;
  const t = tf.tidy(() => tf.cast(randomInt(rng.fork('t'), [x.shape[0]], schedule.numTrainTimesteps), 'float32') as tf.Tensor1D);
  const z = addNoise(schedule, x, eps, t);
  return { eps, t, z };
}

/** Fixed held-out batches for the evaluation loss: the first `batches × batchSize` held-out examples. */
export function heldOutBatches(data: ArrayDataset, batchSize: number, batches: number): Array<{ x: Float32Array; labels: Int32Array; shape: [number, number, number, number] }> {
  const out = [];
  const n = data.shape[0];
  for (let b = 0; b < batches; b++) {
    const start = b * batchSize;
    if (start >= n) break;
    const idx = Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => start + i);
    out.push({ x: gatherExamples(data, idx), labels: Int32Array.from(idx.map((i) => data.labels[i])), shape: [idx.length, data.shape[1], data.shape[2], data.shape[3]] as [number, number, number, number] });
  }
  return out;
}

/**
 * Mean of `lossFor` over the held-out batches, with noise drawn from a fixed stream so that successive
 * evaluations are comparable. Each batch's loss is read asynchronously (works on WebGPU, which cannot
 * read synchronously under Node).
 */
export async function evaluationLoss(data: ArrayDataset | undefined, batchSize: number, batches: number, seed: number,
  lossFor: (x: tf.Tensor4D, labels: tf.Tensor1D, rng: Rng) => tf.Scalar): Promise<number> {
  if (!data || batches === 0) return NaN;
  const list = heldOutBatches(data, batchSize, batches);
  let sum = 0;
  for (let i = 0; i < list.length; i++) {
    const b = list[i];
    const value = tf.tidy(() => lossFor(tf.tensor4d(b.x, b.shape), tf.tensor1d(b.labels, 'int32'), Rng.fromSeed(seed).fork('eval').fork(String(i))));
    try {
      sum += (await value.data())[0];
    } finally {
      value.dispose();
    }
  }
  return sum / list.length;
}
