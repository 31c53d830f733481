import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { drawNoise, drawNoised } from '../../src/stage-engine/common';
import { Rng } from '../../src/training/rng';
import { tinySchedule } from '../helpers/tiny';

describe('stage-engine/common', () => {
  it('noise offset: ε + offset·n with one n ~ N(0, 1) per example and channel; offset 0 is the plain draw', () => {
    // The seed: noise += noise_offset · randn(B, C, 1, 1) (NCHW; [B, 1, 1, C] here, NHWC).
    const before = tf.memory().numTensors;
    const x = tf.zeros([2, 3, 3, 2]) as tf.Tensor4D;
    const rng = Rng.fromSeed(7).fork('stage').fork('0.0');
    const plain = drawNoise(x, rng, 0);
    const expectedPlain = Rng.fromSeed(7).fork('stage').fork('0.0').fork('eps').normalArray(2 * 3 * 3 * 2);
    assert.deepEqual(Array.from(plain.dataSync()), Array.from(expectedPlain));
    const offset = drawNoise(x, rng, 0.1);
    const shift = Rng.fromSeed(7).fork('stage').fork('0.0').fork('offset').normalArray(2 * 2);
    const p = plain.dataSync();
    const o = offset.dataSync();
    // index (b, h, w, c) = ((b·3 + h)·3 + w)·2 + c; shift index b·2 + c. Float32 sums: tolerance 1e-6.
    for (let b = 0; b < 2; b++) for (let h = 0; h < 3; h++) for (let w = 0; w < 3; w++) for (let c = 0; c < 2; c++) {
      const i = ((b * 3 + h) * 3 + w) * 2 + c;
      assert.ok(Math.abs(o[i] - (p[i] + 0.1 * shift[b * 2 + c])) < 1e-6, `element ${i}`);
    }
    // The timestep and ε streams do not move with the offset (the offset has its own stream).
    const a = drawNoised(tinySchedule(), x, rng, 0);
    const bb = drawNoised(tinySchedule(), x, rng, 0.1);
    assert.deepEqual(Array.from(a.t.dataSync()), Array.from(bb.t.dataSync()));
    tf.dispose([x, plain, offset, a.eps, a.t, a.z, bb.eps, bb.t, bb.z]);
    assert.equal(tf.memory().numTensors, before);
  });
});
