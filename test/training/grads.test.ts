import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { TrainingError } from '../../src/errors';
import { GradientAccumulator, clipByGlobalNorm, globalNorm } from '../../src/training/grads';
import { assertClose, variable } from './helpers';

describe('training/grads', () => {
  let before: number;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });

  it('globalNorm is the L2 norm over all gradients', async () => {
    // √(3² + 4² + 12²) = 13.
    const g = { a: tf.tensor1d([3, 4]), b: tf.tensor2d([[12]]) };
    assert.equal(await globalNorm(g), 13);
    assert.equal(await globalNorm({}), 0);
    tf.dispose(Object.values(g));
    assert.equal(tf.memory().numTensors, before);
  });

  it('clips by the global norm and returns the pre-clip norm', async () => {
    const g = new Map<string, tf.Tensor>([['a', tf.tensor1d([3, 4])], ['b', tf.tensor1d([12])]]);
    // Norm 13 > 6.5: scale 6.5 / (13 + 1e-6) ≈ 0.5 (tolerance 1e-6 covers the 1e-6 guard).
    const clipped = await clipByGlobalNorm(g, 6.5);
    assert.equal(clipped.norm, 13);
    assertClose([clipped.scale], [0.5], 1e-7, 'scale');
    assertClose(clipped.grads.get('a')!.dataSync(), [1.5, 2], 1e-6, 'a');
    assertClose(clipped.grads.get('b')!.dataSync(), [6], 1e-6, 'b');
    assertClose([await globalNorm(clipped.grads)], [6.5], 1e-5, 'clipped norm');
    // Below the bound: unchanged values (new tensors).
    const same = await clipByGlobalNorm(g, 20);
    assert.equal(same.scale, 1);
    assert.deepEqual(Array.from(same.grads.get('a')!.dataSync()), [3, 4]);
    assert.notEqual(same.grads.get('a'), g.get('a'));
    await assert.rejects(clipByGlobalNorm(g, 0), /maxNorm must be a positive finite number, found 0/);
    tf.dispose([...g.values(), ...clipped.grads.values(), ...same.grads.values()]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('accumulated mean over equal micro-batches equals the big-batch gradient', () => {
    // Linear regression loss mean_i (w·x_i + b − y_i)² over 4 examples, split into two micro-batches of 2.
    const w = variable(tf.tensor1d([0.3, -0.7]));
    const b = variable(tf.scalar(0.1));
    const x = tf.tensor2d([[1, 2], [0.5, -1], [-2, 1], [3, 0.25]]);
    const y = tf.tensor1d([1, -1, 0.5, 2]);
    const loss = (xs: tf.Tensor2D, ys: tf.Tensor1D) => (): tf.Scalar =>
      tf.mean(tf.square(tf.sub(tf.add(tf.sum(tf.mul(xs, w), 1), b), ys))) as tf.Scalar;
    const big = tf.variableGrads(loss(x as tf.Tensor2D, y as tf.Tensor1D), [w, b]);
    const acc = new GradientAccumulator();
    for (const [lo, n] of [[0, 2], [2, 2]]) {
      const xs = tf.slice(x, [lo, 0], [n, 2]) as tf.Tensor2D;
      const ys = tf.slice(y, [lo], [n]) as tf.Tensor1D;
      const part = tf.variableGrads(loss(xs, ys), [w, b]);
      acc.add({ w: part.grads[w.name], b: part.grads[b.name] });
      tf.dispose([xs, ys, part.value, ...Object.values(part.grads)]);
    }
    assert.equal(acc.count, 2);
    const mean = acc.mean();
    const sum = acc.sum();
    // Float32 sums in different order: tolerance 1e-5.
    assertClose(mean.get('w')!.dataSync(), big.grads[w.name].dataSync(), 1e-5, 'w');
    assertClose(mean.get('b')!.dataSync(), big.grads[b.name].dataSync(), 1e-5, 'b');
    assertClose(sum.get('b')!.dataSync(), [2 * big.grads[b.name].dataSync()[0]], 1e-5, 'sum b');
    tf.dispose([...mean.values(), ...sum.values(), big.value, ...Object.values(big.grads)]);
    acc.reset();
    assert.equal(acc.count, 0);
    assert.throws(() => acc.mean(), /no gradients have been accumulated/);
    acc.dispose();
    tf.dispose([w, b, x, y]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('refuses micro-batches whose names or shapes differ from the first', () => {
    const acc = new GradientAccumulator();
    const a = tf.tensor1d([1, 2]);
    const c = tf.tensor1d([1, 2, 3]);
    acc.add({ a });
    assert.throws(() => acc.add({ b: a }), (e: unknown) => e instanceof TrainingError &&
      e.message === "gradient names differ from the first micro-batch's; missing: a; unexpected: b");
    assert.throws(() => acc.add({ a: c }), /gradient "a" has shape \[3\] but earlier micro-batches had \[2\]/);
    assert.equal(acc.count, 1);
    acc.dispose();
    tf.dispose([a, c]);
    assert.equal(tf.memory().numTensors, before);
  });
});
