import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { batchStream } from '../../src/streams/batch-stream';
import type { UNet } from '../../src/models/unet';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { tinyDataResource, tinySchedule, tinyUNet } from '../../test/helpers/tiny';
import { vFinetuneNode, type VFinetuneConfig } from './index';

describe('nodes/v-finetune', () => {
  it('is registered with the seed\'s defaults (lr 1e-5, EMA 0.995, clip 1, 2000 steps, accumulation 2)', () => {
    assert.ok(builtinNodeTypes.includes(vFinetuneNode));
    const { config } = validateNodeConfig(vFinetuneNode, {});
    const c = config as unknown as VFinetuneConfig;
    assert.deepEqual([c.lr, c.emaDecay, c.gradClip, c.iterations, c.accumulation, c.weightDecay], [1e-5, 0.995, 1, 2000, 2, 1e-2]);
  });

  it('turns an epsilon model into a v-prediction model with the same weights at start, and trains it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vft-'));
    const before = tf.memory().numTensors;
    const teacher = tinyUNet('epsilon');
    const data = tinyDataResource();
    const config = validateNodeConfig(vFinetuneNode, { iterations: 2, accumulation: 2, lr: 1e-3, evalBatches: 0 }).config as unknown as VFinetuneConfig;
    const ctx = nodeContext(config, { outDir: dir, resources: { model: teacher, schedule: tinySchedule() }, streams: { batches: batchStream(data.train, { batchSize: 4, seed: 1 }) } });
    const instance = await vFinetuneNode.create(ctx);
    await instance.run!();
    const v = await (instance.resources!.model as Promise<UNet>);
    assert.equal(v.predictionType, 'v_prediction');
    assert.equal(teacher.predictionType, 'epsilon');
    assert.ok(fs.existsSync(path.join(dir, 'model.safetensors')));
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).config.prediction_type, 'v_prediction');
    await instance.dispose!();
    teacher.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
