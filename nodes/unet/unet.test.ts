import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import type { UNet } from '../../src/models/unet';
import { saveModelFile } from '../../src/stage-engine/node-support';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { perturbWeights, tinyUNet } from '../../test/helpers/tiny';
import { unetNode, } from './index';
import type { ModelSourceConfig } from '../../src/stage-engine/model-source';

describe('nodes/unet', () => {
  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(unetNode));
  });

  it('builds from a config, and reloads a stage\'s model file to identical predictions', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unetnode-'));
    const before = tf.memory().numTensors;
    const fromConfig = validateNodeConfig(unetNode, {
      config: { image_size: 4, in_channels: 2, out_channels: 2, model_channels: 8, num_res_blocks: 1, attention_resolutions: [], channel_mult: [1], num_classes: 4, num_groups: 4, num_heads: 1, prediction_type: 'v_prediction' },
    });
    assert.deepEqual(fromConfig.problems, []);
    const built = await unetNode.create(nodeContext(fromConfig.config as unknown as ModelSourceConfig));
    assert.equal((built.resources!.model as UNet).predictionType, 'v_prediction');
    await built.dispose!();
    const original = perturbWeights(tinyUNet('v_prediction'));
    await saveModelFile(original, path.join(dir, 'model.safetensors'));
    const loaded = await unetNode.create(nodeContext(validateNodeConfig(unetNode, { weights: path.join(dir, 'model.safetensors') }).config as unknown as ModelSourceConfig));
    const m = loaded.resources!.model as UNet;
    const d = tf.tidy(() => {
      const z = tf.randomNormal([2, 4, 4, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
      const t = tf.tensor1d([10, 900]);
      const l = tf.tensor1d([0, 3], 'int32');
      return tf.max(tf.abs(tf.sub(m.predict(z, t, l), original.predict(z, t, l)))).dataSync()[0];
    });
    assert.equal(d, 0);
    await loaded.dispose!();
    original.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
