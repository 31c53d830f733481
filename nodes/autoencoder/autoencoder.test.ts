import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { Autoencoder } from '../../src/models/autoencoder';
import { saveModelFile } from '../../src/stage-engine/node-support';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { autoencoderNode, } from './index';
import type { ModelSourceConfig } from '../../src/stage-engine/model-source';

describe('nodes/autoencoder (and src/models/autoencoder)', () => {
  it('is registered; needs a config or weights', () => {
    assert.ok(builtinNodeTypes.includes(autoencoderNode));
    assert.deepEqual(validateNodeConfig(autoencoderNode, {}).problems.map((p) => p.message), ['give a model config, a weights file, or both']);
  });

  it('maps 32×32×1 to 8×8×4 (f = 4); encode/decode apply the scale factor; gradients reach every weight', () => {
    const before = tf.memory().numTensors;
    const ae = new Autoencoder({}, { seed: 3 });
    assert.equal(ae.downsampleFactor, 4);
    const x = tf.randomUniform([2, 32, 32, 1], -1, 1, 'float32', 1) as tf.Tensor4D;
    const raw = ae.encodeRaw(x);
    assert.deepEqual(raw.shape, [2, 8, 8, 4]);
    ae.scaleFactor = 0.5;
    const z = ae.encode(x);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(z, tf.mul(raw, 0.5)))).dataSync()[0]);
    assert.ok(diff < 1e-6);
    const a = ae.decode(z);
    const b = ae.decodeRaw(raw);
    assert.deepEqual(a.shape, [2, 32, 32, 1]);
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]) < 1e-5);
    assert.equal(ae.config.scale_factor, 0.5);
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(ae.decode(ae.encode(x)))) as tf.Scalar, [...ae.variables.values()]);
    assert.equal(Object.keys(grads).length, ae.variables.size);
    tf.dispose([x, raw, z, a, b, value, ...Object.values(grads)]);
    ae.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('loads a stage\'s model file (config from its metadata) with identical outputs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aenode-'));
    const ae = new Autoencoder({ channels: [8, 8], scale_factor: 2 }, { seed: 4 });
    await saveModelFile(ae, path.join(dir, 'model.safetensors'));
    const config = validateNodeConfig(autoencoderNode, { weights: path.join(dir, 'model.safetensors') }).config as unknown as ModelSourceConfig;
    const instance = await autoencoderNode.create(nodeContext(config));
    const loaded = instance.resources!.model as Autoencoder;
    assert.equal(loaded.scaleFactor, 2);
    const x = tf.randomUniform([1, 32, 32, 1], -1, 1, 'float32', 2) as tf.Tensor4D;
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(loaded.encode(x), ae.encode(x)))).dataSync()[0]);
    assert.equal(d, 0);
    x.dispose();
    await instance.dispose!();
    ae.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
