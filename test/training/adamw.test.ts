import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, TrainingError } from '../../src/errors';
import { AdamW } from '../../src/training/adamw';

// Float32 arithmetic against float64 hand values: absolute tolerance 1e-6.
const TOL = 1e-6;

function close(actual: ArrayLike<number>, expected: number[], tol = TOL): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `[${i}] ${actual[i]} vs ${expected[i]} (tol ${tol})`);
  }
}

/** A variable that owns its initial value (the initial tensor is disposed). */
function variable(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t);
  t.dispose();
  return v;
}

describe('training/adamw', () => {
  let before: number;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });

  it('matches a hand-computed two-step example', () => {
    // lr 0.1, β1 0.9, β2 0.999, eps 1e-8, weight decay 0.01.
    // Variable a = 1 with gradients 0.5 then −0.25:
    //  step 1: decay 1·(1 − 0.1·0.01) = 0.999; m = 0.1·0.5 = 0.05; v = 0.001·0.25 = 0.00025;
    //          m̂ = 0.05/0.1 = 0.5, √v̂ = √(0.00025/0.001) = 0.5; update 0.1·0.5/(0.5 + 1e-8) = 0.099999998
    //          a = 0.999 − 0.099999998 = 0.899000002
    //  step 2: decay 0.899000002·0.999 = 0.898101002; m = 0.9·0.05 − 0.1·0.25 = 0.02;
    //          v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225; m̂ = 0.02/0.19 = 0.105263158,
    //          √v̂ = √(0.00031225/0.001999) = 0.395225381; update 0.1·0.105263158/0.395225391 = 0.026633703
    //          a = 0.898101002 − 0.026633703 = 0.871467299
    // Variable b = [2, −3] with gradients [1, 0] then [0, 0]:
    //  b0 step 1: 1.998 − 0.1·1/(1 + 1e-8) = 1.898000001
    //  b0 step 2: 1.898000001·0.999 = 1.896102001; m̂ = 0.09/0.19 = 0.473684211, √v̂ = √(0.000999/0.001999)
    //             = 0.706929894; update 0.1·0.473684211/0.706929904 = 0.067005824 → 1.829096177
    //  b1 never has a gradient: m = v = 0, the Adam term is 0/(0 + eps) = 0, only the decay acts:
    //             −3·0.999² = −2.994003
    const a = variable(tf.scalar(1));
    const b = variable(tf.tensor1d([2, -3]));
    const opt = new AdamW(new Map([['a', a], ['b', b]]), { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    const g1 = { a: tf.scalar(0.5), b: tf.tensor1d([1, 0]) };
    opt.step(g1);
    close(a.dataSync(), [0.899000002]);
    close(b.dataSync(), [1.898000001, -2.997]);
    const g2 = new Map<string, tf.Tensor>([['a', tf.scalar(-0.25)], ['b', tf.tensor1d([0, 0])]]);
    opt.step(g2);
    close(a.dataSync(), [0.8714672987]);
    close(b.dataSync(), [1.8290961765, -2.994003]);
    assert.equal(opt.stepCount, 2);
    const s = opt.getState();
    close(s.m.get('a')!.dataSync(), [0.02]);
    close(s.v.get('a')!.dataSync(), [0.00031225], 1e-9);
    tf.dispose([...Object.values(g1), ...g2.values(), ...s.m.values(), ...s.v.values()]);
    opt.dispose();
    tf.dispose([a, b]);
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  });

  it('the lr argument overrides the configured rate for one step; weightDecay 0 is plain Adam', () => {
    // One step from 0 with g = 2, lr 0.5, no decay: m̂ = 2, √v̂ = 2 → update 0.5·2/(2 + 1e-8) ≈ 0.5.
    const p = variable(tf.scalar(0));
    const opt = new AdamW(new Map([['p', p]]), { lr: 1, weightDecay: 0 });
    const g = tf.scalar(2);
    opt.step({ p: g }, 0.5);
    close(p.dataSync(), [-0.5]);
    assert.equal(opt.lr, 1);
    opt.lr = 0.25;
    opt.step({ p: g });
    // Step 2 with the same g: m̂ = 2, v̂ = 4 → update 0.25 → −0.75.
    close(p.dataSync(), [-0.75]);
    tf.dispose([g, p]);
    opt.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('leaves variables without a gradient untouched', () => {
    const a = variable(tf.scalar(1));
    const b = variable(tf.scalar(5));
    const opt = new AdamW(new Map([['a', a], ['b', b]]), { lr: 0.1 });
    const g = tf.scalar(1);
    opt.step({ a: g });
    assert.equal(b.dataSync()[0], 5);
    assert.notEqual(a.dataSync()[0], 1);
    tf.dispose([g, a, b]);
    opt.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects unknown gradient names and mismatched shapes without changing anything', () => {
    const a = variable(tf.tensor1d([1, 2]));
    const opt = new AdamW(new Map([['a', a]]), { lr: 0.1 });
    const wrong = tf.scalar(1);
    assert.throws(() => opt.step({ z: wrong }), (e: unknown) => e instanceof TrainingError &&
      e.message === 'gradients for unknown variables: z (the optimizer has 1 variables)');
    assert.throws(() => opt.step({ a: wrong }), /gradient "a" has shape \[\], variable has \[2\]/);
    assert.equal(opt.stepCount, 0);
    assert.deepEqual(Array.from(a.dataSync()), [1, 2]);
    tf.dispose([wrong, a]);
    opt.dispose();
    assert.throws(() => opt.step({}), /AdamW optimizer used after dispose\(\)/);
    assert.equal(tf.memory().numTensors, before);
  });

  it('validates options, listing every problem', () => {
    const v = new Map<string, tf.Variable>();
    assert.throws(() => new AdamW(v, { lr: -1, beta1: 1, eps: 0, momentum: 0.9 } as never),
      (e: unknown) => e instanceof ConfigError && e.message === [
        'invalid AdamW options:',
        '  momentum: unknown property "momentum" — known properties: "lr", "beta1", "beta2", "eps", "weightDecay"',
        '  lr: must be >= 0 (found -1)',
        '  beta1: must be < 1 (found 1)',
        '  eps: must be > 0 (found 0)',
      ].join('\n') && e.problems.length === 4);
    assert.throws(() => new AdamW(v, { lr: 1, beta2: '0.99', weigthDecay: 0 } as never), (e: unknown) => e instanceof ConfigError && e.message === [
      'invalid AdamW options:',
      '  weigthDecay: unknown property "weigthDecay" — did you mean "weightDecay"?',
      '  beta2: must be a number (expected number, found string "0.99")',
    ].join('\n'));
    assert.throws(() => new AdamW(v, {} as never), (e: unknown) => e instanceof ConfigError &&
      e.message === 'invalid AdamW options:\n  missing required property "lr" — "lr": Learning rate (≥ 0).');
  });

  it('state round trip: a restored optimizer continues exactly like the original', () => {
    const mk = (): tf.Variable => variable(tf.tensor2d([[0.5, -1], [2, 0.25]]));
    const p1 = mk();
    const opt1 = new AdamW(new Map([['w', p1]]), { lr: 0.05, weightDecay: 0.1 });
    const grads = [tf.tensor2d([[1, -2], [0.5, 3]]), tf.tensor2d([[-1, 0.5], [2, -0.25]]), tf.tensor2d([[0.1, 0.2], [0.3, 0.4]])];
    opt1.step({ w: grads[0] });
    opt1.step({ w: grads[1] });
    const state = opt1.getState();
    const p2 = variable(p1.clone());
    const opt2 = new AdamW(new Map([['w', p2]]), { lr: 0.05, weightDecay: 0.1 });
    opt2.setState(state);
    tf.dispose([...state.m.values(), ...state.v.values()]);
    opt1.step({ w: grads[2] });
    opt2.step({ w: grads[2] });
    assert.equal(opt2.stepCount, 3);
    assert.deepEqual(Array.from(p2.dataSync()), Array.from(p1.dataSync()));
    // A state for other variables is refused with every mismatch listed.
    const bad = { step: 1, m: new Map([['x', grads[0]]]), v: new Map([['w', tf.reshape(grads[2], [4])]]) };
    assert.throws(() => opt2.setState(bad), (e: unknown) => e instanceof TrainingError &&
      e.message.includes('m.w: missing') && e.message.includes('m.x: no such variable') &&
      e.message.includes('v.w: shape [4], variable has [2,2]'));
    tf.dispose([...bad.v.values()]);
    tf.dispose([...grads, p1, p2]);
    opt1.dispose();
    opt2.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
