/** Tiny models and data for node tests: a 10k-parameter UNet on 4×4×2 latents, 3 classes + null. */
import * as tf from '@tensorflow/tfjs-core';
import { UNet } from '../../src/models/unet';
import type { PredictionType } from '../../src/models/types';
import { NoiseSchedule } from '../../src/diffusion/schedule';
import type { ArrayDataset } from '../../src/data/dataset';
import type { DatasetResource } from '../../src/data/resource';
import { uniformGenerator } from '../../src/data/random';

export function tinyUNet(predictionType: PredictionType = 'epsilon', seed = 1): UNet {
  return new UNet({
    image_size: 4, in_channels: 2, out_channels: 2, model_channels: 8, num_res_blocks: 1, attention_resolutions: [],
    channel_mult: [1], num_classes: 4, num_groups: 4, num_heads: 1, prediction_type: predictionType,
  }, { seed });
}

/**
 * Adds seeded noise (std 0.05) to every weight: LDM zero-initialises the output convolution, so a fresh
 * UNet predicts 0 everywhere and conditional and unconditional passes would agree exactly.
 */
export function perturbWeights(model: UNet, seed = 7): UNet {
  let i = 0;
  for (const v of model.variables.values()) tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.05, 'float32', seed + i++))));
  return model;
}

export function tinySchedule(predictionType: PredictionType = 'epsilon'): NoiseSchedule {
  return NoiseSchedule.fromConfig({ numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02, predictionType });
}

/** n latents [n, 4, 4, 2] uniform in [-1, 1], labels 0…2 round robin. */
export function tinyLatents(n: number, seed = 1): ArrayDataset {
  const next = uniformGenerator(seed);
  return { x: Float32Array.from({ length: n * 32 }, () => 2 * next() - 1), shape: [n, 4, 4, 2], labels: Int32Array.from({ length: n }, (_, i) => i % 3) };
}

export function tinyDataResource(n = 16): DatasetResource {
  return { kind: 'latents', train: tinyLatents(n, 1), test: tinyLatents(8, 2), numClasses: 3 };
}

/** A classifier stand-in for evaluation tests: features = the flattened image, logits = its first 3 values. */
export const flatScorer = {
  features: (x: tf.Tensor4D): tf.Tensor2D => tf.tidy(() => tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D),
  logits: (x: tf.Tensor4D): tf.Tensor2D => tf.tidy(() => tf.slice(tf.reshape(x, [x.shape[0], -1]), [0, 0], [-1, 3]) as tf.Tensor2D),
};
