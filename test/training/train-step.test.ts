import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { TrainingError } from '../../src/errors';
import { AdamW } from '../../src/training/adamw';
import { clipByGlobalNorm } from '../../src/training/grads';
import { trainStep } from '../../src/training/train-step';
import { assertClose, variable } from './helpers';

describe('training/train-step', () => {
  let before: number;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });

  // Linear regression: loss = mean_i (w·x_i + b − y_i)².
  const X = [[1, 2], [0.5, -1], [-2, 1], [3, 0.25]];
  const Y = [1, -1, 0.5, 2];
  function setup(): { w: tf.Variable; b: tf.Variable; opt: AdamW; lossOf: (lo: number, n: number) => () => tf.Scalar; dispose: () => void } {
    const w = variable(tf.tensor1d([0.3, -0.7]));
    const b = variable(tf.scalar(0.1));
    const opt = new AdamW(new Map([['w', w], ['b', b]]), { lr: 0.01, weightDecay: 0 });
    const x = tf.tensor2d(X);
    const y = tf.tensor1d(Y);
    const lossOf = (lo: number, n: number) => (): tf.Scalar => tf.tidy(() => {
      const xs = tf.slice(x, [lo, 0], [n, 2]);
      const ys = tf.slice(y, [lo], [n]);
      return tf.mean(tf.square(tf.sub(tf.add(tf.sum(tf.mul(xs, w), 1), b), ys))) as tf.Scalar;
    });
    return { w, b, opt, lossOf, dispose: () => { opt.dispose(); tf.dispose([w, b, x, y]); } };
  }

  it('returns the loss and pre-clip gradient norm, updates the variables, and leaks nothing', async () => {
    const s = setup();
    // Loss at w = (0.3, −0.7), b = 0.1: predictions (−1, 0.95, −1.2, 0.825) → errors (−2, 1.95, −1.7, −1.175);
    // mean of squares = (4 + 3.8025 + 2.89 + 1.380625)/4 = 3.01828125.
    const r = await trainStep(s.opt, s.lossOf(0, 4));
    assertClose([r.loss], [3.01828125], 1e-5, 'loss');
    // Gradient = (2/4)·Σ_i err_i·(x_i0, x_i1, 1) with Σ err·x_i0 = −2 + 0.975 + 3.4 − 3.525 = −1.15,
    // Σ err·x_i1 = −4 − 1.95 − 1.7 − 0.29375 = −7.94375, Σ err = −2.925; norm = 0.5·√(1.15² + 7.94375² + 2.925²).
    const norm = 0.5 * Math.sqrt(1.15 ** 2 + 7.94375 ** 2 + 2.925 ** 2);
    assertClose([r.gradNorm], [norm], 1e-5, 'gradNorm');
    assert.equal(r.lr, 0.01);
    // First Adam step moves every coordinate by ≈ lr against the gradient sign.
    assertClose(s.w.dataSync(), [0.31, -0.69], 1e-6, 'w');
    assertClose(s.b.dataSync(), [0.11], 1e-6, 'b');
    assert.equal(s.opt.stepCount, 1);
    s.dispose();
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  });

  it('micro-batch accumulation gives the same step as the whole batch', async () => {
    const a = setup();
    const b = setup();
    for (let k = 0; k < 3; k++) {
      const ra = await trainStep(a.opt, a.lossOf(0, 4));
      const rb = await trainStep(b.opt, [b.lossOf(0, 2), b.lossOf(2, 2)]);
      assertClose([rb.loss], [ra.loss], 1e-5, 'loss');
      assertClose([rb.gradNorm], [ra.gradNorm], 1e-5, 'gradNorm');
    }
    assertClose(b.w.dataSync(), a.w.dataSync(), 1e-6, 'w');
    assertClose(b.b.dataSync(), a.b.dataSync(), 1e-6, 'b');
    a.dispose();
    b.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('clips like clipByGlobalNorm followed by AdamW.step', async () => {
    const a = setup();
    const b = setup();
    for (let k = 0; k < 2; k++) {
      const ra = await trainStep(a.opt, a.lossOf(k, 2), { maxGradNorm: 0.5, lr: 0.05 });
      // The same by hand: gradients, clip, step.
      const { value, grads } = tf.variableGrads(b.lossOf(k, 2), [b.w, b.b]);
      const clipped = await clipByGlobalNorm({ w: grads[b.w.name], b: grads[b.b.name] }, 0.5);
      b.opt.step(clipped.grads, 0.05);
      assert.ok(clipped.norm > 0.5, 'the example does clip');
      assertClose([ra.gradNorm], [clipped.norm], 1e-6, 'pre-clip norm');
      tf.dispose([value, ...Object.values(grads), ...clipped.grads.values()]);
    }
    assertClose(a.w.dataSync(), b.w.dataSync(), 1e-7, 'w');
    a.dispose();
    b.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('a non-finite loss throws before the weights change', async () => {
    const s = setup();
    const w0 = Array.from(s.w.dataSync());
    const bad = (): tf.Scalar => tf.tidy(() => tf.div(tf.sum(s.w), tf.scalar(0)) as tf.Scalar);
    await assert.rejects(trainStep(s.opt, bad), (e: unknown) => e instanceof TrainingError &&
      e.message === 'non-finite loss -Infinity at optimizer step 1');
    assert.deepEqual(Array.from(s.w.dataSync()), w0);
    assert.equal(s.opt.stepCount, 0);
    await assert.rejects(trainStep(s.opt, []), /trainStep needs at least one loss function/);
    await assert.rejects(trainStep(s.opt, s.lossOf(0, 4), { maxGradNorm: 0 }), /maxNorm must be a positive finite number, found 0/);
    assert.equal(s.opt.stepCount, 0);
    s.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
