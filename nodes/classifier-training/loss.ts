/**
 * What `classifier-training` trains and measures: the embedded default's evaluator (the small image
 * classifier) on softmax cross-entropy, run through the stage engine's loop like the diffusion stages.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ArrayDataset } from '../../src/data/dataset';
import type { WeightModule } from '../../src/models/types';
import type { MicroBatchLoss } from '../../src/stage-engine/denoising';
import { heldOutBatches } from '../../src/stage-engine/common';
import { eventLoopTurn } from '../../src/event-loop';

export interface TrainableClassifier extends WeightModule {
  logits(x: tf.Tensor4D): tf.Tensor2D;
  features(x: tf.Tensor4D): tf.Tensor2D;
  clone(): TrainableClassifier;
  getWeights(): Record<string, tf.Tensor>;
  readonly config: unknown;
}

/** Softmax cross-entropy of the logits against the labels. */
export function classifierLoss(model: TrainableClassifier): MicroBatchLoss {
  return (x, labels) => tf.tidy(() => {
    const logits = model.logits(x);
    const onehot = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, logits.shape[1]);
    return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
  });
}

/** Classifier accuracy on a data set, in batches (predictions read asynchronously). */
export async function classifierAccuracy(model: TrainableClassifier, data: ArrayDataset, batchSize = 250): Promise<number> {
  let hits = 0;
  const batches = heldOutBatches(data, batchSize, Math.ceil(data.shape[0] / batchSize));
  for (const b of batches) {
    await eventLoopTurn();
    const predicted = tf.tidy(() => tf.argMax(model.logits(tf.tensor4d(b.x, b.shape)), 1));
    let p: ArrayLike<number>;
    try {
      p = await predicted.data();
    } finally {
      predicted.dispose();
    }
    for (let i = 0; i < p.length; i++) if (p[i] === b.labels[i]) hits++;
  }
  return hits / data.shape[0];
}
