import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { Classifier } from '../../src/models/classifier';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { classifierNode, } from './index';
import type { ModelSourceConfig } from '../../src/stage-engine/model-source';

describe('nodes/classifier (and src/models/classifier)', () => {
  it('is registered; rejects unknown config keys', () => {
    assert.ok(builtinNodeTypes.includes(classifierNode));
    const { problems } = validateNodeConfig(classifierNode, { config: { num_clases: 10 } });
    assert.equal(problems.length, 1);
    assert.match(problems[0].message, /num_clases/);
  });

  it('gives [B, 10] logits and [B, 64] features on 32×32 digits; clones exactly', async () => {
    const before = tf.memory().numTensors;
    const config = validateNodeConfig(classifierNode, { config: {}, seed: 2 }).config as unknown as ModelSourceConfig;
    const instance = await classifierNode.create(nodeContext(config));
    const c = instance.resources!.model as Classifier;
    const x = tf.randomUniform([3, 32, 32, 1], -1, 1, 'float32', 1) as tf.Tensor4D;
    const logits = c.logits(x);
    const features = c.features(x);
    assert.deepEqual(logits.shape, [3, 10]);
    assert.deepEqual(features.shape, [3, 64]);
    const copy = c.clone();
    assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(copy.logits(x), logits))).dataSync()[0]), 0);
    tf.dispose([x, logits, features]);
    copy.dispose();
    await instance.dispose!();
    assert.equal(tf.memory().numTensors, before);
  });
});
