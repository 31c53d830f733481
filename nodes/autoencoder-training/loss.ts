/**
 * What `autoencoder-training` trains and measures: the embedded default's first stage (the small
 * autoencoder) on a plain supervised loss, run through the stage engine's loop like the diffusion stages.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ArrayDataset } from '../../src/data/dataset';
import type { WeightModule } from '../../src/models/types';
import type { MicroBatchLoss } from '../../src/stage-engine/denoising';
import { heldOutBatches } from '../../src/stage-engine/common';
import { eventLoopTurn } from '../../src/event-loop';

export interface TrainableAutoencoder extends WeightModule {
  encode(x: tf.Tensor4D): tf.Tensor4D;
  decode(z: tf.Tensor4D): tf.Tensor4D;
  clone(): TrainableAutoencoder;
  getWeights(): Record<string, tf.Tensor>;
  readonly config: unknown;
}

/** Reconstruction MSE plus a small L2 penalty on the latents (keeps their scale bounded). */
export function autoencoderLoss(model: TrainableAutoencoder, latentPenalty: number): MicroBatchLoss {
  return (x) => tf.tidy(() => {
    const z = model.encode(x);
    const recon = tf.mean(tf.squaredDifference(model.decode(z), x)) as tf.Scalar;
    return latentPenalty > 0 ? tf.add(recon, tf.mul(latentPenalty, tf.mean(tf.square(z)))) as tf.Scalar : recon;
  });
}

/**
 * Mean reconstruction MSE and the latents' standard deviation on a data set (scale factor = 1/std);
 * values are read asynchronously.
 */
export async function autoencoderStatistics(model: TrainableAutoencoder, data: ArrayDataset, batchSize = 250, maxExamples = 2000): Promise<{ mse: number; latentStd: number; latentShape: number[] }> {
  const batches = heldOutBatches(data, batchSize, Math.ceil(Math.min(maxExamples, data.shape[0]) / batchSize));
  let se = 0;
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  let count = 0;
  let latentShape: number[] = [];
  for (const b of batches) {
    await eventLoopTurn();
    const [err, z] = tf.tidy(() => {
      const x = tf.tensor4d(b.x, b.shape);
      const zz = model.encode(x);
      return [tf.sum(tf.squaredDifference(model.decode(zz), x)), zz];
    });
    let ev: ArrayLike<number>;
    let zv: ArrayLike<number>;
    try {
      ev = await err.data();
      zv = await z.data();
    } finally {
      tf.dispose([err, z]);
    }
    se += ev[0];
    n += b.x.length;
    latentShape = z.shape.slice(1);
    for (let i = 0; i < zv.length; i++) { sum += zv[i]; sumSq += zv[i] * zv[i]; }
    count += zv.length;
  }
  const mean = sum / count;
  return { mse: se / n, latentStd: Math.sqrt(Math.max(sumSq / count - mean * mean, 0)), latentShape };
}
