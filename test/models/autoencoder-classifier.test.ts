import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../src/errors';
import { Autoencoder } from '../../src/models/autoencoder';
import { Classifier } from '../../src/models/classifier';
import type { ParameterizedModel } from '../../src/models/params';
import { maxAbsDiff, randomizeWeights, seededNormal } from './helpers';

/** Names of the parameters whose gradient of `loss` is zero everywhere. */
function zeroGradNames(model: ParameterizedModel, loss: () => tf.Scalar): string[] {
  const { value, grads } = tf.variableGrads(loss);
  const byVar = new Map([...model.variables].map(([n, v]) => [v.name, n]));
  assert.equal(Object.keys(grads).length, model.variables.size);
  const zero = Object.entries(grads)
    .filter(([, g]) => tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) === 0)
    .map(([v]) => byVar.get(v) as string);
  tf.dispose([value, ...Object.values(grads)]);
  return zero;
}

describe('models/autoencoder', () => {
  it('32×32×1 → 8×8×4 latents (f = 4) → 32×32×1, scale factor applied on both sides, no leaks', () => {
    const before = tf.memory().numTensors;
    const ae = new Autoencoder({ in_channels: 1, latent_channels: 4, channels: [8, 16], scale_factor: 0.5 }, { seed: 1 });
    assert.equal(ae.downsampleFactor, 4);
    const x = tf.tidy(() => tf.tanh(seededNormal([2, 32, 32, 1], 3))) as tf.Tensor4D;
    const z = ae.encode(x);
    assert.deepEqual(z.shape, [2, 8, 8, 4]);
    const raw = ae.encodeRaw(x);
    assert.ok(tf.tidy(() => maxAbsDiff(z, tf.mul(raw, 0.5))) < 1e-7);
    const y = ae.decode(z);
    assert.deepEqual(y.shape, [2, 32, 32, 1]);
    const yRaw = ae.decodeRaw(raw);
    assert.ok(maxAbsDiff(y, yRaw) < 1e-6, 'decode(encode(x)) = decodeRaw(encodeRaw(x))');
    assert.deepEqual(ae.config, { in_channels: 1, latent_channels: 4, channels: [8, 16], scale_factor: 0.5 });
    tf.dispose([x, z, raw, y, yRaw]);
    ae.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('1/8 resolution with three levels', () => {
    const ae = new Autoencoder({ in_channels: 3, latent_channels: 2, channels: [4, 4, 8] });
    const x = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    const z = ae.encode(x);
    assert.deepEqual(z.shape, [1, 2, 2, 2]);
    tf.dispose([x, z]);
    ae.dispose();
  });

  it('gradient of the reconstruction loss reaches every parameter', () => {
    const ae = new Autoencoder({ in_channels: 1, latent_channels: 4, channels: [8, 16] }, { seed: 2 });
    randomizeWeights(ae, 10, 0.1);
    const x = tf.tidy(() => tf.tanh(seededNormal([2, 16, 16, 1], 4))) as tf.Tensor4D;
    const zero = zeroGradNames(ae, () => tf.mean(tf.square(tf.sub(ae.decode(ae.encode(x)), x))) as tf.Scalar);
    assert.deepEqual(zero, []);
    x.dispose();
    ae.dispose();
  });

  it('clone and getWeights/loadWeights round-trip bit-exactly; unknown config keys are errors', () => {
    const a = new Autoencoder({ channels: [4, 8] }, { seed: 5 });
    const b = new Autoencoder({ channels: [4, 8] }, { seed: 6 });
    const w = a.getWeights();
    b.loadWeights(w);
    const c = a.clone();
    const x = seededNormal([1, 8, 8, 1], 1) as tf.Tensor4D;
    const za = a.encode(x);
    const zb = b.encode(x);
    const zc = c.encode(x);
    assert.equal(maxAbsDiff(za, zb), 0);
    assert.equal(maxAbsDiff(za, zc), 0);
    tf.dispose([x, za, zb, zc, ...Object.values(w)]);
    [a, b, c].forEach((m) => m.dispose());
    assert.throws(() => new Autoencoder({ channel: [4] } as never), (e: unknown) => e instanceof ConfigError &&
      e.message.startsWith('invalid autoencoder config:\n') && e.message.includes('channel'));
  });
});

describe('models/classifier', () => {
  it('logits [B, num_classes] and features [B, feature_dim] (the logits are a linear map of the features), no leaks', () => {
    const before = tf.memory().numTensors;
    const clf = new Classifier({ image_size: 32, in_channels: 1, num_classes: 10, channels: [4, 8, 8], feature_dim: 16 }, { seed: 1 });
    randomizeWeights(clf, 20, 0.2);
    const x = seededNormal([3, 32, 32, 1], 2) as tf.Tensor4D;
    const f = clf.features(x);
    const l = clf.logits(x);
    assert.deepEqual(f.shape, [3, 16]);
    assert.deepEqual(l.shape, [3, 10]);
    const w = clf.getWeights();
    // PyTorch layout: out.weight [10, 16] → logits = f · Wᵀ + b.
    const manual = tf.tidy(() => tf.add(tf.matMul(f, w['out.weight'], false, true), w['out.bias']));
    assert.ok(maxAbsDiff(manual, l) < 1e-5);
    // The evaluation's one-pass scoring: logits from the features already computed are the logits, bit for bit.
    const head = clf.logitsFromFeatures(f);
    assert.deepEqual(Array.from(head.dataSync()), Array.from(l.dataSync()));
    tf.dispose([x, f, l, manual, head, ...Object.values(w)]);
    clf.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('gradient of the cross-entropy reaches every parameter', () => {
    const clf = new Classifier({ image_size: 16, channels: [4, 8], feature_dim: 8, num_classes: 3 }, { seed: 2 });
    randomizeWeights(clf, 30, 0.3);
    const x = seededNormal([4, 16, 16, 1], 5) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
    const zero = zeroGradNames(clf, () => tf.losses.softmaxCrossEntropy(labels, clf.logits(x)) as tf.Scalar);
    assert.deepEqual(zero, []);
    tf.dispose([x, labels]);
    clf.dispose();
  });

  it('refuses an image size the pooling levels cannot divide', () => {
    assert.throws(() => new Classifier({ image_size: 28, channels: [4, 8, 8] }), (e: unknown) => e instanceof ConfigError &&
      e.message === 'invalid classifier config:\n  image_size: must be divisible by 8 (one 2× pooling per entry of channels) (found 28)');
  });
});
