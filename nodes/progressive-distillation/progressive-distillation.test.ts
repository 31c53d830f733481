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
import { progressiveDistillationNode, SEED_ROUNDS, type ProgressiveDistillationConfig, type StudentsResource } from './index';
import { configSchema } from './config';

describe('nodes/progressive-distillation', () => {
  it('is registered with the seed\'s rounds as default, and checks the halving', () => {
    assert.ok(builtinNodeTypes.includes(progressiveDistillationNode));
    const { config, problems } = validateNodeConfig(progressiveDistillationNode, {});
    assert.deepEqual(problems, []);
    const c = config as unknown as ProgressiveDistillationConfig;
    assert.deepEqual(c.rounds, SEED_ROUNDS);
    assert.deepEqual(c.rounds.map((r) => r.iterations), [2000, 2000, 5000, 20000, 20000, 20000]);
    assert.deepEqual([c.baseSteps, c.lr, c.gradClip, c.lossWeighting], [64, 1e-5, 1, 'truncated_snr']);
    const bad = validateNodeConfig(progressiveDistillationNode, { rounds: [{ steps: 32, iterations: 1 }, { steps: 8, iterations: 1 }], wMin: 1 });
    assert.deepEqual(bad.problems.map((p) => [p.path, p.message, p.expected]), [
      ['rounds.1.steps', 'each round halves the previous step count (the first starts from baseSteps = 64)', '16'],
      ['wMax', 'wMin and wMax go together', undefined],
    ]);
  });

  it('describes exactly the loss weightings its enums accept (lossWeighting refuses "target")', () => {
    const props = configSchema.properties as unknown as Record<string, { enum: string[]; description: string }>;
    for (const key of ['lossWeighting', 'targetLoss']) {
      const named = [...props[key].description.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
      assert.deepEqual([...new Set(named)].sort(), [...props[key].enum].sort(), key);
    }
    assert.ok(!props.lossWeighting.enum.includes('target'));
    assert.ok(props.lossWeighting.enum.includes('target_min_snr'));
    const { problems } = validateNodeConfig(progressiveDistillationNode, { lossWeighting: 'target' });
    assert.deepEqual(problems.map((p) => p.path), ['lossWeighting']);
  });

  it('runs two rounds on a tiny UNet with replay, outputs each round\'s student, cleans up the spill folder', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pd-'));
    const before = tf.memory().numTensors;
    const teacher = perturbWeights(tinyUNet('v_prediction'));
    const data = tinyDataResource();
    const config = validateNodeConfig(progressiveDistillationNode, {
      baseSteps: 4, rounds: [{ steps: 2, iterations: 2 }, { steps: 1, iterations: 2, emaDecay: 0.9 }], accumulation: 1, lr: 1e-3,
      replay: { blockBatches: 1, times: 2 }, evalBatches: 1, evalBatchSize: 4, checkpointEvery: 1, logEvery: 2,
    }).config as unknown as ProgressiveDistillationConfig;
    const ctx = nodeContext(config, { outDir: dir, runDir: dir, resources: { model: teacher, schedule: tinySchedule('v_prediction'), data }, streams: { batches: batchStream(data.train, { batchSize: 4, seed: 1 }) } });
    const instance = await progressiveDistillationNode.create(ctx);
    await instance.run!();
    const students = await (instance.resources!.students as Promise<StudentsResource>);
    assert.deepEqual(students.map((s) => s.steps), [2, 1]);
    assert.equal(await (instance.resources!.model as Promise<UNet>), students[1].model);
    assert.ok(fs.existsSync(path.join(dir, 'round-0-2steps', 'student.safetensors')));
    assert.ok(fs.existsSync(path.join(dir, 'round-1-1steps', 'checkpoints', 'best.safetensors')));
    assert.equal(fs.existsSync(path.join(dir, 'replay')), false);
    // Logged every 2 of the 4 steps: at the end of each round, the round's values also under
    // round-<r>-<N>steps/ (TensorBoard: <node>/round-0-2steps/loss beside <node>/loss).
    // (Evaluation losses are records of their own, with an evalLoss key.)
    const logged = ctx.metricsLogged.filter((m) => !('evalLoss' in m.values));
    assert.deepEqual(logged.map((m) => m.step), [2, 4]);
    for (const [{ values }, r, n] of [[logged[0], 0, 2], [logged[1], 1, 1]] as const) {
      const prefix = `round-${r}-${n}steps`;
      assert.deepEqual(Object.keys(values).sort(), ['distillLoss', 'gradNorm', 'loss', 'lr', 'round', `${prefix}/distillLoss`, `${prefix}/gradNorm`, `${prefix}/loss`, `${prefix}/lr`, 'stepsPerSecond', 'steps'].sort());
      // targetWeight 0: the distillation term is the whole loss (float32, same terms: 1e-6 relative).
      assert.ok(Math.abs(values.distillLoss - values.loss) <= 1e-6 * values.loss);
      assert.deepEqual([values.round, values.steps, values[`${prefix}/loss`], values[`${prefix}/lr`]], [r, n, values.loss, values.lr]);
      assert.ok(Number.isFinite(values.loss) && values.loss > 0);
    }
    await instance.dispose!();
    teacher.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('distils a w-conditioned teacher (stage-one paper variant) with w ~ U[wMin, wMax] given to teacher and student', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pdw-'));
    const before = tf.memory().numTensors;
    const base = perturbWeights(tinyUNet('v_prediction'));
    const teacher = base.cloneWith({ guidance_embed: true });
    base.dispose();
    const data = tinyDataResource();
    const config = validateNodeConfig(progressiveDistillationNode, {
      baseSteps: 2, rounds: [{ steps: 1, iterations: 2 }], accumulation: 1, lr: 1e-3, wMin: 0, wMax: 2, replay: { blockBatches: 0, times: 1 }, evalBatches: 0,
    }).config as unknown as ProgressiveDistillationConfig;
    const ctx = nodeContext(config, { outDir: dir, runDir: dir, resources: { model: teacher, schedule: tinySchedule('v_prediction') }, streams: { batches: batchStream(data.train, { batchSize: 4, seed: 1 }) } });
    const instance = await progressiveDistillationNode.create(ctx);
    await instance.run!();
    const [student] = await (instance.resources!.students as Promise<StudentsResource>);
    assert.equal(student.model.takesGuidanceWeight, true);
    await instance.dispose!();
    teacher.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logs distillLoss and targetLoss (targetWeight > 0), averaged over micro-batches, summing to loss (1e-6 relative); no leak', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pdp-'));
    const before = tf.memory().numTensors;
    const teacher = perturbWeights(tinyUNet('v_prediction'));
    const data = tinyDataResource();
    const config = validateNodeConfig(progressiveDistillationNode, {
      baseSteps: 2, rounds: [{ steps: 1, iterations: 3 }], accumulation: 2, lr: 1e-3, targetWeight: 0.5, replay: { blockBatches: 2, times: 1 }, evalBatches: 0, logEvery: 2,
    }).config as unknown as ProgressiveDistillationConfig;
    const ctx = nodeContext(config, { outDir: dir, runDir: dir, resources: { model: teacher, schedule: tinySchedule('v_prediction') }, streams: { batches: batchStream(data.train, { batchSize: 4, seed: 1 }) } });
    const instance = await progressiveDistillationNode.create(ctx);
    await instance.run!();
    // loss = mean_i(d_i + t_i) in float32 per micro-batch; the parts are means of the same float32 terms:
    // they differ only by the rounding of each float32 sum (≤ 6e-8 relative).
    assert.deepEqual(ctx.metricsLogged.map((m) => m.step), [2, 3]);
    for (const { values } of ctx.metricsLogged) {
      assert.ok(values.distillLoss > 0 && values.targetLoss > 0, JSON.stringify(values));
      assert.ok(Math.abs(values.distillLoss + values.targetLoss - values.loss) <= 1e-6 * values.loss, JSON.stringify(values));
      assert.equal(values['round-0-1steps/targetLoss'], values.targetLoss);
    }
    await instance.dispose!();
    teacher.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
