import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { NoiseSchedule } from '../../src/diffusion/schedule';
import { sampleImages, scoreImages, type ImageScorer } from '../../src/eval/evaluate';
import { perturbWeights, tinySchedule, tinyUNet } from '../helpers/tiny';

describe('eval/evaluate: sampleImages', () => {
  it('a DistillDDIMScheduler schedule (teacherMaxTrainSteps K) samples the K-step sub-sequence, as baseSteps K does (to the bit)', async () => {
    const before = tf.memory().numTensors;
    const model = perturbWeights(tinyUNet('v_prediction'));
    const plain = tinySchedule('v_prediction');
    const distill = NoiseSchedule.fromConfig({ ...plain.toConfig(), teacherMaxTrainSteps: 8 });
    const common = { model, steps: 2, guidanceScale: 1, labels: Int32Array.from([0, 1]), latentShape: [4, 4, 2] as [number, number, number], batchSize: 2, seed: 3 };
    const viaSchedule = await sampleImages({ ...common, schedule: distill });
    const viaBaseSteps = await sampleImages({ ...common, schedule: plain, baseSteps: 8 });
    const ddim = await sampleImages({ ...common, schedule: plain });
    assert.deepEqual(Array.from(viaSchedule.images), Array.from(viaBaseSteps.images));
    assert.notDeepEqual(Array.from(ddim.images), Array.from(viaSchedule.images), 'the plain 2-step DDIM timesteps differ from the sub-sequence of 8');
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('eval/evaluate: scoreImages', () => {
  // A scorer whose features are the per-image pixel sums and whose logits are a fixed head on them; it
  // counts how often the network (features) runs.
  function countingScorer(withHead: boolean): ImageScorer & { featureCalls: number; logitCalls: number } {
    const head = (f: tf.Tensor2D): tf.Tensor2D => tf.concat([f, tf.neg(f)], 1) as tf.Tensor2D;
    const scorer = {
      featureCalls: 0,
      logitCalls: 0,
      features(x: tf.Tensor4D): tf.Tensor2D {
        scorer.featureCalls++;
        return tf.reshape(tf.sum(x, [1, 2, 3]), [x.shape[0], 1]) as tf.Tensor2D;
      },
      logits(x: tf.Tensor4D): tf.Tensor2D {
        scorer.logitCalls++;
        return tf.tidy(() => head(scorer.features(x)));
      },
      ...(withHead ? { logitsFromFeatures: head } : {}),
    };
    return scorer;
  }

  it('with logitsFromFeatures the network runs once per batch, not twice, and the features and predictions are the same', async () => {
    const before = tf.memory().numTensors;
    // 5 images of 2×2×1 in batches of 2: sums 4, −4, 8, −8, 0 → predicted class 0 when the sum is > 0, else 1 (argMax of [s, −s]).
    const values = [1, 1, 1, 1, -1, -1, -1, -1, 2, 2, 2, 2, -2, -2, -2, -2, 0, 0, 0, 0];
    const images = Float32Array.from(values);
    const twice = countingScorer(false);
    const once = countingScorer(true);
    const a = await scoreImages(twice, images, [5, 2, 2, 1], 2);
    const b = await scoreImages(once, images, [5, 2, 2, 1], 2);
    assert.deepEqual(Array.from(a.features), [4, -4, 8, -8, 0]);
    assert.deepEqual(Array.from(a.predicted), [0, 1, 0, 1, 0]);
    assert.deepEqual(Array.from(b.features), Array.from(a.features));
    assert.deepEqual(Array.from(b.predicted), Array.from(a.predicted));
    assert.equal(twice.featureCalls, 6, 'without the head: features and logits each run the network, 3 batches');
    assert.equal(once.featureCalls, 3, 'with the head: once per batch');
    assert.equal(once.logitCalls, 0);
    assert.equal(tf.memory().numTensors, before);
  });
});
