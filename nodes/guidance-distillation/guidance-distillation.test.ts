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
import { perturbWeights, tinyDataResource, tinySchedule, tinyUNet } from '../../test/helpers/tiny';
import { LossParts } from '../../src/stage-engine/denoising';
import { guidanceDistillationLoss } from './loss';
import { Rng } from '../../src/training/rng';
import { guidanceDistillationNode, type GuidanceDistillationConfig } from './index';

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

  it('logs distillLoss and targetLoss, averaged over micro-batches, summing to loss (1e-6 relative); no leak', async () => {
    const before = tf.memory().numTensors;
    const { ctx, instance, teacher } = await runNode({ guidanceScale: 3, targetWeight: 0.5, accumulation: 2, iterations: 3, logEvery: 2 }, dir);
    // Logged at step 2 (logEvery) and 3 (the last); loss = mean_i(d_i + t_i) and the parts are mean_i d_i,
    // mean_i t_i of the same float32 terms, so they differ by the float32 rounding of each sum (≤ 6e-8 relative).
    assert.deepEqual(ctx.metricsLogged.map((m) => m.step), [2, 3]);
    for (const { values } of ctx.metricsLogged) {
      assert.ok(values.distillLoss > 0 && values.targetLoss > 0, JSON.stringify(values));
      assert.ok(Math.abs(values.distillLoss + values.targetLoss - values.loss) <= 1e-6 * values.loss, JSON.stringify(values));
    }
    await instance.dispose!();
    teacher.dispose();
    // targetWeight 0: no targetLoss key, distillLoss is the loss.
    const pure = await runNode({ guidanceScale: 3, logEvery: 1 }, dir);
    for (const { values } of pure.ctx.metricsLogged) {
      assert.equal('targetLoss' in values, false);
      assert.ok(Math.abs(values.distillLoss - values.loss) <= 1e-6 * values.loss);
    }
    await pure.instance.dispose!();
    pure.teacher.dispose();
    // The replay path (targets spilled, then replayed) records the parts too.
    const replayed = await runNode({ guidanceScale: 3, targetWeight: 0.5, accumulation: 2, replay: { blockBatches: 2, times: 1 } }, dir);
    assert.deepEqual(replayed.ctx.metricsLogged.map((m) => m.step), [1, 2]);
    for (const { values } of replayed.ctx.metricsLogged) {
      assert.ok(Math.abs(values.distillLoss + values.targetLoss - values.loss) <= 1e-6 * values.loss, JSON.stringify(values));
    }
    await replayed.instance.dispose!();
    replayed.teacher.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
  });

  it('recording the parts changes neither the loss nor its gradients (bit-identical)', () => {
    const before = tf.memory().numTensors;
    const student = perturbWeights(tinyUNet('v_prediction'), 3);
    const teacher = perturbWeights(tinyUNet('v_prediction'));
    const loss = guidanceDistillationLoss(student, teacher, tinySchedule('v_prediction'), { guidanceScale: 3, distillWeight: 1, targetWeight: 0.5, loss: { weighting: 'target' } });
    const x = tf.randomUniform([4, 4, 4, 2], -1, 1, 'float32', 5) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
    const vars = [...student.variables.values()];
    const run = (parts?: LossParts) => tf.variableGrads(() => loss(x, labels, Rng.fromSeed(9), parts), vars);
    const plain = run();
    const parts = new LossParts();
    const recorded = run(parts);
    assert.deepEqual(recorded.value.dataSync(), plain.value.dataSync());
    for (const k of Object.keys(plain.grads)) assert.deepEqual(recorded.grads[k].dataSync(), plain.grads[k].dataSync(), k);
    parts.clear();
    tf.dispose([plain.value, recorded.value, ...Object.values(plain.grads), ...Object.values(recorded.grads), x, labels]);
    student.dispose();
    teacher.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
