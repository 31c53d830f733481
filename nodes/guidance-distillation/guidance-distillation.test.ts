import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { batchStream } from '../../src/data/stream';
import type { UNet } from '../../src/models/unet';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { perturbWeights, tinyDataResource, tinySchedule, tinyUNet } from '../../test/helpers/tiny';
import { guidanceDistillationConfigSchema, guidanceDistillationNode, type GuidanceDistillationConfig } from './index';

async function runNode(raw: Record<string, unknown>, dir: string) {
  const teacher = perturbWeights(tinyUNet('v_prediction'));
  const data = tinyDataResource();
  const config = validateNodeConfig(guidanceDistillationNode, { iterations: 2, accumulation: 1, lr: 1e-3, evalBatches: 0, logEvery: 1, ...raw }).config as unknown as GuidanceDistillationConfig;
  const ctx = nodeContext(config, { outDir: dir, resources: { model: teacher, schedule: tinySchedule('v_prediction') }, streams: { batches: batchStream(data.train, { batchSize: 4, seed: 1 }) } });
  const instance = await guidanceDistillationNode.create(ctx);
  await instance.run!();
  const student = await (instance.resources!.model as Promise<UNet>);
  return { ctx, instance, student, teacher };
}

describe('nodes/guidance-distillation', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is registered; cross-field checks name empty weight ranges and an all-zero loss mix', () => {
    assert.ok(builtinNodeTypes.includes(guidanceDistillationNode));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(__dirname, 'schema.json'), 'utf8')), guidanceDistillationConfigSchema());
    const { problems } = validateNodeConfig(guidanceDistillationNode, { variant: 'w-range', wMin: 2, wMax: 2, distillWeight: 0 });
    assert.deepEqual(problems.map((p) => [p.path, p.message]), [
      ['wMax', 'the weight range must not be empty'],
      ['distillWeight', 'distillWeight and targetWeight are both 0: nothing to learn'],
    ]);
  });

  it('with g = 1 the student starts exactly on its target: the first loss is 0 (exact)', async () => {
    const before = tf.memory().numTensors;
    const { ctx, instance, teacher } = await runNode({ guidanceScale: 1 }, dir);
    assert.equal(ctx.metricsLogged[0].values.loss, 0);
    await instance.dispose!();
    teacher.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
  });

  it('fixed g = 3: a positive loss; w-range: the student takes the guidance weight', async () => {
    const fixed = await runNode({ guidanceScale: 3 }, dir);
    assert.ok(fixed.ctx.metricsLogged[0].values.loss > 0);
    assert.equal(fixed.student.takesGuidanceWeight, false);
    await fixed.instance.dispose!();
    fixed.teacher.dispose();
    const ranged = await runNode({ variant: 'w-range', wMin: 0, wMax: 4 }, dir);
    assert.equal(ranged.student.takesGuidanceWeight, true);
    assert.ok(ranged.ctx.metricsLogged[0].values.loss > 0);
    await ranged.instance.dispose!();
    ranged.teacher.dispose();
  });
});
