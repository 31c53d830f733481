import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../src/errors';
import {
  minSnrWeight, perExampleMse, snrPlusOneWeight, snrWeight, targetSnrWeight, truncatedSnrWeight, unitWeight, weightedMse,
} from '../../src/training/losses';
import { assertClose } from './helpers';

describe('training/losses', () => {
  let before: number;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  });

  it('per-example and weighted MSE (hand numbers)', () => {
    // Example 0: errors (1, −1, 2, 0) → mean of squares 6/4 = 1.5; example 1: (0, 3, 0, 1) → 10/4 = 2.5.
    const pred = tf.tensor4d([1, -1, 2, 0, 0, 3, 0, 1], [2, 2, 1, 2]);
    const target = tf.zeros([2, 2, 1, 2]);
    const w = tf.tensor1d([2, 0.5]);
    const per = perExampleMse(pred, target);
    assertClose(per.dataSync(), [1.5, 2.5], 1e-7, 'per-example');
    const plain = weightedMse(pred, target);
    assertClose(plain.dataSync(), [2], 1e-7, 'plain');
    // (2·1.5 + 0.5·2.5)/2 = 2.125.
    const weighted = weightedMse(pred, target, w);
    assertClose(weighted.dataSync(), [2.125], 1e-7, 'weighted');
    const bad = tf.tensor1d([1, 2, 3]);
    assert.throws(() => weightedMse(pred, target, bad), /weights: weights must be \[B\] \(expected \[2\], found \[3\]\)/);
    assert.throws(() => perExampleMse(pred, bad), /prediction and target shapes differ \(expected \[3\], found \[2,2,1,2\]\)/);
    tf.dispose([pred, target, w, per, plain, weighted, bad]);
  });

  it('SNR weightings (hand numbers)', () => {
    const snr = tf.tensor1d([0.25, 1, 4, 10]);
    const cases: Array<[tf.Tensor1D, number[]]> = [
      [truncatedSnrWeight(snr), [1, 1, 4, 10]],
      [minSnrWeight(snr, 5), [0.25, 1, 4, 5]],
      [snrPlusOneWeight(snr), [1.25, 2, 5, 11]],
      [unitWeight(snr), [1, 1, 1, 1]],
      [snrWeight('truncated_snr', snr), [1, 1, 4, 10]],
      [snrWeight('min_snr', snr, 2), [0.25, 1, 2, 2]],
      [snrWeight('snr_plus_one', snr), [1.25, 2, 5, 11]],
      [snrWeight('unweighted', snr), [1, 1, 1, 1]],
    ];
    for (const [t, expected] of cases) {
      assert.deepEqual(Array.from(t.dataSync()), expected);
      t.dispose();
    }
    assert.throws(() => snrWeight('min_snr', snr), (e: unknown) => e instanceof ConfigError && /gamma: is required for "min_snr"/.test(e.message));
    assert.throws(() => minSnrWeight(snr, 0), /gamma: must be a positive number \(found 0\)/);
    assert.throws(() => snrWeight('p2' as never, snr), /kind: unknown weighting/);
    snr.dispose();
  });

  it('the seed\'s snr_weight_mode weights (hand numbers): max = min(SNR, γ)/SNR, truncated = max(SNR, 1), plus1 = 1 + SNR', () => {
    // The seed's script: max → stack([snr, γ]).min / snr; truncated → stack([snr, 1]).max. SNR 0 gives 1 (min(1, γ/0)).
    const snr = tf.tensor1d([0, 0.25, 1, 4, 10]);
    const cases: Array<[tf.Tensor1D, number[]]> = [
      [targetSnrWeight('target_min_snr', snr, 5), [1, 1, 1, 1, 0.5]],
      [targetSnrWeight('target_min_snr', snr, 2), [1, 1, 1, 0.5, 0.2]],
      [targetSnrWeight('target_truncated_snr', snr), [1, 1, 1, 4, 10]],
      [targetSnrWeight('target_snr_plus_one', snr), [1, 1.25, 2, 5, 11]],
    ];
    for (const [t, expected] of cases) {
      assertClose(t.dataSync(), expected, 1e-7, 'weights');
      t.dispose();
    }
    assert.throws(() => targetSnrWeight('target_min_snr', snr), /gamma: must be a positive number for "target_min_snr" \(found undefined\)/);
    assert.throws(() => targetSnrWeight('p2' as never, snr), /kind: unknown weighting/);
    snr.dispose();
  });

  it('(1 + SNR)-weighted x-MSE equals the v-MSE', () => {
    // alphā = 0.64: a = 0.8, s = 0.6, SNR = 0.64/0.36. z = a·x + s·ε, v = a·ε − s·x; a v̂ gives x̂ = a·z − s·v̂,
    // so x̂ − x = −s·(v̂ − v) and (1 + SNR)·s² = 1.
    const a = 0.8;
    const s = 0.6;
    const x = tf.tensor2d([[0.5, -1, 2]]);
    const eps = tf.tensor2d([[1, 0.25, -0.5]]);
    const vHat = tf.tensor2d([[0.3, 0.9, -1.2]]);
    const snr = tf.tensor1d([(a * a) / (s * s)]);
    const [z, v, xHat] = tf.tidy(() => {
      const zt = tf.add(tf.mul(x, a), tf.mul(eps, s));
      return [zt, tf.sub(tf.mul(eps, a), tf.mul(x, s)), tf.sub(tf.mul(zt, a), tf.mul(vHat, s))];
    });
    const w = snrPlusOneWeight(snr as tf.Tensor1D);
    const lx = weightedMse(xHat, x, w);
    const lv = weightedMse(vHat, v);
    assertClose(lx.dataSync(), lv.dataSync(), 1e-6, 'x-MSE·(1+SNR) vs v-MSE');
    tf.dispose([x, eps, vHat, snr, z, v, xHat, w, lx, lv]);
  });
});
