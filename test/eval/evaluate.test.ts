import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { NoiseSchedule } from '../../src/diffusion/schedule';
import { sampleImages } from '../../src/eval/evaluate';
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
