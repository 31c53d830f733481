import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { batchStream } from '../../src/streams/batch-stream';
import { readSafetensors } from '../../src/io/safetensors';
import type { UNet } from '../../src/models/unet';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { tinyDataResource, tinySchedule, tinyUNet } from '../../test/helpers/tiny';
import { teacherTrainingNode, type TeacherTrainingConfig } from './index';

describe('nodes/teacher-training', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'teacher-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is registered; iterations is required', () => {
    assert.ok(builtinNodeTypes.includes(teacherTrainingNode));
    const { problems } = validateNodeConfig(teacherTrainingNode, {});
    assert.equal(problems.length, 1);
    assert.match(problems[0].message, /iterations/);
  });

  it('trains a copy of the model, logs metrics, writes model.safetensors and a best checkpoint, leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const init = tinyUNet('epsilon');
    const data = tinyDataResource();
    const config = validateNodeConfig(teacherTrainingNode, { iterations: 6, lr: 1e-3, warmupSteps: 1, checkpointEvery: 3, evalBatches: 1, evalBatchSize: 4, logEvery: 3 }).config as unknown as TeacherTrainingConfig;
    const ctx = nodeContext(config, { outDir: dir, runDir: dir, resources: { model: init, schedule: tinySchedule(), data }, streams: { batches: batchStream(data.train, { batchSize: 4, seed: 1, labelDropout: 0.1, nullClass: 3 }) } });
    const weightsBefore = init.getWeights();
    const instance = await teacherTrainingNode.create(ctx);
    await instance.run!();
    const trained = await (instance.resources!.model as Promise<UNet>);
    assert.equal(trained.predictionType, 'epsilon');
    // Training metrics every logEvery steps; the evaluation loss (at each checkpoint) as records of its own.
    const training = ctx.metricsLogged.filter((m) => !('evalLoss' in m.values));
    assert.deepEqual(training.map((m) => m.step), [3, 6]);
    assert.ok(training.every((m) => Number.isFinite(m.values.loss) && m.values.lr > 0));
    assert.deepEqual(ctx.metricsLogged.filter((m) => 'evalLoss' in m.values).map((m) => [m.step, Number.isFinite(m.values.evalLoss)]), [[3, true], [6, true]]);
    // The input model is untouched; the output differs from it.
    const after = init.getWeights();
    const name = 'out.2.weight';
    assert.deepEqual(Array.from(after[name].dataSync()), Array.from(weightsBefore[name].dataSync()));
    const file = await readSafetensors(path.join(dir, 'model.safetensors'));
    assert.ok(file.tensors.has(name));
    assert.equal(JSON.parse(file.metadata.config).prediction_type, 'epsilon');
    assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'checkpoint-000000006.safetensors')));
    assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'best.safetensors')));
    tf.dispose([...Object.values(weightsBefore), ...Object.values(after)]);
    await instance.dispose!();
    init.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
  });
});
