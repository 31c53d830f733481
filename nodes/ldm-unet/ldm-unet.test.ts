import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { importLdmCheckpoint } from '../../src/ldm/import';
import type { UNet } from '../../src/models/unet';
import type { NoiseSchedule } from '../../src/diffusion';
import { saveModelFile } from '../../src/stage-engine/node-support';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { TINY_CKPT, TINY_YAML } from '../../test/ldm/helpers';
import { ldmUNetNode } from './index';

describe('nodes/ldm-unet', () => {
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-unet-node-'));
    await importLdmCheckpoint({ config: TINY_YAML, ckpt: TINY_CKPT, out: dir });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is registered; the folder is required, unknown keys refused', () => {
    assert.ok(builtinNodeTypes.includes(ldmUNetNode));
    assert.equal(validateNodeConfig(ldmUNetNode, {}).problems[0].message, 'missing required property "model"');
    assert.ok(validateNodeConfig(ldmUNetNode, { model: dir, ckpt: 'x' }).problems.length > 0);
  });

  it('builds the imported UNet (1001 classes, null class 1000, ε) and the schedule; dispose frees every tensor', async () => {
    const before = tf.memory().numTensors;
    const ctx = nodeContext({ model: dir });
    const instance = await ldmUNetNode.create(ctx);
    const unet = instance.resources!.model as UNet;
    const schedule = instance.resources!.schedule as NoiseSchedule;
    assert.deepEqual([unet.numClasses, unet.nullClass, unet.predictionType, unet.takesGuidanceWeight], [1001, 1000, 'epsilon', false]);
    assert.equal(schedule.numTrainTimesteps, 1000);
    assert.ok(Math.abs(schedule.betas[0] - 0.0015) < 1e-9);
    assert.match(ctx.logged[0].message, /^ldm-unet: 992691 parameters \(non-EMA weights of tiny-cin\.ckpt, epsilon\), latent \[3, 8, 8\]$/);
    await instance.dispose!();
    assert.equal(tf.memory().numTensors, before);
  });

  it('with weights: the model a training stage saved (its config and weights), the folder\'s schedule', async () => {
    const before = tf.memory().numTensors;
    const base = await ldmUNetNode.create(nodeContext({ model: dir }));
    const v = (base.resources!.model as UNet).cloneWith({ prediction_type: 'v_prediction' });
    const file = path.join(dir, 'stage', 'model.safetensors');
    await saveModelFile(v, file);
    const ctx = nodeContext({ model: dir, weights: file });
    const instance = await ldmUNetNode.create(ctx);
    const loaded = instance.resources!.model as UNet;
    assert.equal(loaded.predictionType, 'v_prediction');
    assert.match(ctx.logged[0].message, /\(model\.safetensors, v_prediction\)/);
    for (const [name, w] of v.variables) {
      assert.deepEqual(Array.from(loaded.variables.get(name)!.dataSync()), Array.from(w.dataSync()), name);
    }
    v.dispose();
    await base.dispose!();
    await instance.dispose!();
    assert.equal(tf.memory().numTensors, before);
  });

  it('names the missing model folder', async () => {
    await assert.rejects(Promise.resolve(ldmUNetNode.create(nodeContext({ model: path.join(dir, 'nope') }))),
      /nope\/model\.json: cannot read the imported model description \(run "distillery import ldm" first\)/);
  });
});
