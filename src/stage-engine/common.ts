/**
 * Pieces the denoising stages share: reading a bounded part of a batch stream, the per-step random
 * draws, the denoising loss with its weighting options, and the evaluation loss on held-out data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { skip, take, type Observable } from 'rxjs';
import { consume } from '../streams/stream';
import type { Batch } from '../data/batch';
import type { ArrayDataset } from '../data/dataset';
import { gatherExamples } from '../data/dataset';
import { Rng, randomInt, randomNormal } from '../training/rng';
import { isTargetSnrWeighting, snrWeight, SNR_WEIGHTINGS, TARGET_SNR_WEIGHTINGS, targetSnrWeight, weightedMse, type SnrWeighting, type TargetSnrWeighting } from '../training/losses';
import { addNoise, velocity } from '../diffusion/noising';
import { gatherSchedule } from '../diffusion/coefficients';
import { predictSample } from '../diffusion/predictions';
import type { NoiseSchedule } from '../diffusion/schedule';
import type { PredictionType } from '../models/types';
import { CancelledError, ConfigError } from '../errors';
import { eventLoopTurn } from '../event-loop';

/** How a denoising loss is weighted. */
export type LossWeighting = 'target' | SnrWeighting | TargetSnrWeighting;
export const LOSS_WEIGHTINGS: readonly LossWeighting[] = ['target', ...SNR_WEIGHTINGS, ...TARGET_SNR_WEIGHTINGS];

const WEIGHTING_TEXT: Record<LossWeighting, string> = {
  target: '"target" = plain MSE on the model\'s own target (ε for epsilon models, v for v models)',
  truncated_snr: '"truncated_snr" max(SNR, 1) (the spec\'s stage-two loss)',
  min_snr: '"min_snr" min(SNR, γ)',
  snr_plus_one: '"snr_plus_one" 1 + SNR (equal to the v-MSE)',
  unweighted: '"unweighted" 1',
  target_min_snr: '"target_min_snr" min(SNR, γ)/SNR (the seed\'s snr_weight_mode max)',
  target_truncated_snr: '"target_truncated_snr" max(SNR, 1) (the seed\'s truncated)',
  target_snr_plus_one: '"target_snr_plus_one" 1 + SNR (the seed\'s plus1)',
};

/**
 * The description of a loss-weighting key naming exactly the values it allows. `targetSpace` says what
 * the stage's own target is (the MSE the target_* weights multiply).
 */
export function lossWeightingDescription(allowed: readonly LossWeighting[], targetSpace = 'the model\'s own target, ε or v'): string {
  const x = allowed.filter((k) => (SNR_WEIGHTINGS as readonly string[]).includes(k));
  const t = allowed.filter((k) => isTargetSnrWeighting(k));
  const parts: string[] = [];
  if (allowed.includes('target')) parts.push(WEIGHTING_TEXT.target);
  if (x.length) parts.push(`x-space MSE weighted per example by ${x.map((k) => WEIGHTING_TEXT[k]).join(', ')}`);
  if (t.length) parts.push(`the seed's weights on the MSE of ${targetSpace}: ${t.map((k) => WEIGHTING_TEXT[k]).join(', ')}`);
  return `Loss form: ${parts.join('; ')}.`;
}

export const LOSS_WEIGHTING_DESCRIPTION = lossWeightingDescription(LOSS_WEIGHTINGS);

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

/**
 * Groups batches [firstBlock·size, (lastBlock + 1)·size) of a stream into blocks of `size` held batches and
 * calls `handler(block, batches)` for each full block; the batches are released after it (replay: teacher
 * targets are computed for a whole block before it is trained on).
 */
export async function forEachBlock(stream: Observable<Batch>, firstBlock: number, lastBlock: number, size: number,
  handler: (block: number, batches: HeldBatch[]) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let held: HeldBatch[] = [];
  let next = firstBlock;
  try {
    await forEachBatch(stream, firstBlock * size, (lastBlock + 1) * size, async (b) => {
      held.push(holdBatch(b));
      if (held.length < size) return;
      const block = next++;
      const batches = held;
      held = [];
      try {
        await handler(block, batches);
      } finally {
        batches.forEach(releaseBatch);
      }
    }, signal);
  } finally {
    held.forEach(releaseBatch);
  }
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
  /** Offset noise of the stage's draws (the seed's `--noise_offset`; 0 = none). */
  noiseOffset?: number;
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
    if (options.weighting === 'target' || isTargetSnrWeighting(options.weighting)) {
      const target = type === 'epsilon' ? eps : type === 'sample' ? x : velocity(schedule, x, eps, t);
      if (options.weighting === 'target') return weightedMse(prediction, target);
      return weightedMse(prediction, target, targetSnrWeight(options.weighting, gatherSchedule(schedule, 'snr', t), options.minSnrGamma));
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

/**
 * The noise ε ~ N(0, I) of a batch x [B, H, W, C], plus the seed's offset noise (`--noise_offset`):
 * ε += offset · n with n ~ N(0, 1) of shape [B, 1, 1, C] (one shift per example and channel). The offset
 * draws come from their own stream (`rng.fork('offset')`), so offset 0 gives exactly the plain ε.
 */
export function drawNoise(x: tf.Tensor4D, rng: Rng, noiseOffset = 0): tf.Tensor4D {
  const eps = randomNormal(rng.fork('eps'), x.shape) as tf.Tensor4D;
  if (!(noiseOffset > 0)) return eps;
  return tf.tidy(() => {
    const shift = randomNormal(rng.fork('offset'), [x.shape[0], 1, 1, x.shape[3]]);
    const out = tf.add(eps, tf.mul(shift, noiseOffset)) as tf.Tensor4D;
    eps.dispose();
    return out;
  });
}

/** ε (with `noiseOffset`, see drawNoise), t ~ U{0 … T−1}, z_t: drawn from `rng` (new tensors, owned by the caller). */
export function drawNoised(schedule: NoiseSchedule, x: tf.Tensor4D, rng: Rng, noiseOffset = 0): NoisedBatch {
  const eps = drawNoise(x, rng, noiseOffset);
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
  lossFor: (x: tf.Tensor4D, labels: tf.Tensor1D, rng: Rng) => tf.Scalar, signal?: AbortSignal): Promise<number> {
  if (!data || batches === 0) return NaN;
  const list = heldOutBatches(data, batchSize, batches);
  let sum = 0;
  for (let i = 0; i < list.length; i++) {
    await eventLoopTurn();
    if (signal?.aborted) throw new CancelledError();
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
