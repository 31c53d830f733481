import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, TrainingError } from '../../src/errors';
import type { WeightModule } from '../../src/models/types';
import { EmaWeights, emaDecayAt } from '../../src/training/ema';
import { assertClose, variable } from './helpers';

/** Assigns a new value to a variable, disposing the temporary tensor. */
function setValue(v: tf.Variable, t: tf.Tensor): void {
  v.assign(t);
  t.dispose();
}

describe('training/ema', () => {
  let before: number;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });

  it('starts as a copy and after k updates with fixed weights equals d^k·e0 + (1 − d^k)·p', () => {
    const p = variable(tf.tensor1d([1, 2]));
    const vars = new Map([['p', p]]);
    const ema = new EmaWeights(vars, { decay: 0.9 });
    assert.deepEqual(Array.from(ema.weights.get('p')!.dataSync()), [1, 2]);
    setValue(p, tf.tensor1d([3, -1]));
    for (let k = 0; k < 5; k++) ema.update();
    assert.equal(ema.updates, 5);
    // 0.9^5 = 0.59049: e = 0.59049·[1, 2] + 0.40951·[3, −1] = [1.81902, 0.77147]. Float32: tolerance 1e-6.
    assertClose(ema.weights.get('p')!.dataSync(), [1.81902, 0.77147], 1e-6, 'ema');
    ema.dispose();
    p.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('follows the recurrence with changing weights (hand numbers) and decay 0 copies', () => {
    const p = variable(tf.scalar(0));
    const ema = new EmaWeights(new Map([['p', p]]), { decay: 0.5 });
    // e0 = 0; p = 4 → e1 = 2; p = −2 → e2 = 0.5·2 + 0.5·(−2) = 0; p = 8 → e3 = 4.
    const seq = [4, -2, 8];
    const expected = [2, 0, 4];
    seq.forEach((value, i) => {
      setValue(p, tf.scalar(value));
      ema.update();
      assert.equal(ema.weights.get('p')!.dataSync()[0], expected[i]);
    });
    const copy = new EmaWeights(new Map([['p', p]]), { decay: 0 });
    setValue(p, tf.scalar(-7));
    copy.update();
    assert.equal(copy.weights.get('p')!.dataSync()[0], -7);
    tf.dispose([p]);
    ema.dispose();
    copy.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('warm-up follows diffusers EMAModel.get_decay: 0, 2/11, 3/12, … capped at decay (hand numbers)', () => {
    // diffusers: step n = k − 1 for the k-th update; 0 when n = 0, else min(decay, (1 + n)/(10 + n)).
    assert.equal(emaDecayAt(0.995, true, 1), 0);
    assert.equal(emaDecayAt(0.995, true, 2), 2 / 11);
    assert.equal(emaDecayAt(0.995, true, 3), 3 / 12);
    // (1 + n)/(10 + n) reaches 0.995 at n = 1790 (1791/1800); before that the ramp is the smaller one.
    assert.equal(emaDecayAt(0.995, true, 1000), 1000 / 1009);
    assert.equal(emaDecayAt(0.995, true, 2000), 0.995);
    assert.equal(emaDecayAt(0.995, false, 1), 0.995);
    const p = variable(tf.scalar(0));
    const ema = new EmaWeights(new Map([['p', p]]), { decay: 0.5, warmup: true });
    // e0 = 0; p = 4, d = 0 → e1 = 4; p = −2, d = 2/11 → e2 = (2/11)·4 + (9/11)·(−2) = −10/11;
    // p = 8, d = min(0.5, 3/12) = 0.25 → e3 = 0.25·(−10/11) + 0.75·8 = 6.2727…  Float32: tolerance 1e-6.
    const expected = [4, -10 / 11, 0.25 * (-10 / 11) + 6];
    [4, -2, 8].forEach((value, i) => {
      setValue(p, tf.scalar(value));
      ema.update();
      assertClose(ema.weights.get('p')!.dataSync(), [expected[i]], 1e-6, `update ${i + 1}`);
    });
    // The restored update count continues the same ramp (exact resume).
    const state = ema.getState();
    const again = new EmaWeights(new Map([['p', p]]), { decay: 0.5, warmup: true });
    again.setState(state);
    assert.equal(again.nextDecay, 4 / 13); // n = 3: min(0.5, 4/13)
    tf.dispose([...state.weights.values()]);
    tf.dispose([p]);
    ema.dispose();
    again.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('copyTo a variable map and to a WeightModule', () => {
    const p = variable(tf.tensor1d([1, 1]));
    const ema = new EmaWeights(new Map([['w', p]]), { decay: 0.5 });
    setValue(p, tf.tensor1d([3, 5]));
    ema.update(); // [2, 3]
    const target = variable(tf.zeros([2]));
    ema.copyTo(new Map([['w', target]]));
    assert.deepEqual(Array.from(target.dataSync()), [2, 3]);
    let loaded: Record<string, number[]> = {};
    let strictFlag: boolean | undefined;
    const module: WeightModule = {
      variables: new Map([['w', target]]),
      loadWeights(weights, options) {
        loaded = Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, Array.from(t.dataSync())]));
        strictFlag = options?.strict;
      },
      dispose() {},
    };
    ema.copyTo(module);
    assert.deepEqual(loaded, { w: [2, 3] });
    assert.equal(strictFlag, true);
    const wrong = variable(tf.zeros([3]));
    assert.throws(() => ema.copyTo(new Map([['w', wrong], ['extra', target]])), (e: unknown) => e instanceof TrainingError &&
      e.message.includes('copy target does not fit the EMA weights') && e.message.includes('w: shape [3], EMA has [2]') &&
      e.message.includes('extra: not tracked by the EMA'));
    tf.dispose([p, target, wrong]);
    ema.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('state round trip and option errors', () => {
    const p = variable(tf.tensor1d([1, 2, 3]));
    const vars = new Map([['p', p]]);
    const ema = new EmaWeights(vars, { decay: 0.99 });
    setValue(p, tf.tensor1d([0, 0, 0]));
    ema.update();
    const state = ema.getState();
    const other = new EmaWeights(vars, { decay: 0.99 });
    other.setState(state);
    tf.dispose([...state.weights.values()]);
    assert.equal(other.updates, 1);
    ema.update();
    other.update();
    assert.deepEqual(Array.from(other.weights.get('p')!.dataSync()), Array.from(ema.weights.get('p')!.dataSync()));
    assert.throws(() => new EmaWeights(vars, { decay: 1 }), (e: unknown) => e instanceof ConfigError &&
      e.message === 'invalid EMA options:\n  decay: must be < 1 (found 1)');
    assert.throws(() => new EmaWeights(vars, { decay: 0.9, power: 0.75 } as never), (e: unknown) => e instanceof ConfigError &&
      e.message === 'invalid EMA options:\n  power: unknown property "power" — known properties: "decay", "warmup"');
    assert.throws(() => new EmaWeights(vars, { decay: 0.9, warmup: 1 } as never), (e: unknown) => e instanceof ConfigError &&
      e.message === 'invalid EMA options:\n  warmup: must be a boolean (expected boolean, found number 1)');
    ema.dispose();
    other.dispose();
    assert.throws(() => ema.update(), /EMA used after dispose\(\)/);
    p.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
