import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { batchStream } from '../../src/streams/batch-stream';
import { decodePng } from '../../src/io/png';
import { readSafetensors } from '../../src/io/safetensors';
import { validationClasses, validationDue, writeValidationGrid, VALIDATION_DEFAULTS } from '../../src/stage-engine/validation';
import { teacherTrainingNode, type TeacherTrainingConfig } from '../../nodes/teacher-training';
import { progressiveDistillationNode, type ProgressiveDistillationConfig } from '../../nodes/progressive-distillation';
import { nodeContext } from '../helpers/node-context';
import { perturbWeights, tinyDataResource, tinySchedule, tinyUNet } from '../helpers/tiny';

async function weightsOf(file: string): Promise<Map<string, Uint8Array>> {
  const f = await readSafetensors(file);
  return new Map([...f.tensors].map(([k, t]) => [k, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

async function trainTeacher(dir: string, validation?: Record<string, unknown>) {
  const data = tinyDataResource();
  const init = perturbWeights(tinyUNet('epsilon'));
  const config = validateNodeConfig(teacherTrainingNode, {
    iterations: 5, lr: 1e-3, warmupSteps: 1, checkpointEvery: 2, evalBatches: 1, evalBatchSize: 4, logEvery: 0,
    ...(validation ? { validation } : {}),
  }).config as unknown as TeacherTrainingConfig;
  const ctx = nodeContext(config, { outDir: dir, runDir: dir, resources: { model: init, schedule: tinySchedule(), data }, streams: { batches: batchStream(data.train, { batchSize: 4, seed: 1, labelDropout: 0.1, nullClass: 3 }) } });
  const instance = await teacherTrainingNode.create(ctx);
  await instance.run!();
  await instance.dispose!();
  init.dispose();
  return ctx;
}

describe('stage-engine/validation', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'val-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is due every `every` steps and after the last one; off at every = 0', () => {
    const due = (every: number) => [1, 2, 3, 4, 5].filter((s) => validationDue({ every }, s, 5));
    assert.deepEqual(due(2), [2, 4, 5]);
    assert.deepEqual(due(0), []);
    assert.equal(validationDue(undefined, 5, 5), false);
  });

  it('defaults its rows to the classes without the null class, and names a class the model lacks', () => {
    const model = { numClasses: 4, nullClass: 3 };
    assert.deepEqual(validationClasses(VALIDATION_DEFAULTS, model), [0, 1, 2]);
    assert.deepEqual(validationClasses({ ...VALIDATION_DEFAULTS, classes: [2, 0] }, model), [2, 0]);
    assert.throws(() => validationClasses({ ...VALIDATION_DEFAULTS, classes: [1, 4] }, model),
      /invalid validation:\n  validation\.classes: classes must be below the model's 4 \(found \[4\]\)/);
  });

  it('a node config without `validation` gets it off, with the documented defaults', () => {
    const { config } = validateNodeConfig(teacherTrainingNode, { iterations: 1 });
    assert.deepEqual((config as unknown as TeacherTrainingConfig).validation, { every: 0, samplesPerClass: 4, steps: 16, guidanceScale: 1, seed: 0 });
  });

  it('draws the same grid from the same weights and seed (fixed noise), rows = classes, and leaks nothing', async () => {
    const model = perturbWeights(tinyUNet('epsilon'));
    const before = tf.memory().numTensors;
    const o = { model, schedule: tinySchedule(), config: { ...VALIDATION_DEFAULTS, every: 1, samplesPerClass: 2, steps: 3 }, sampleShape: [4, 4, 2] as [number, number, number] };
    const a = await writeValidationGrid({ ...o, step: 1, dir });
    const b = await writeValidationGrid({ ...o, step: 2, dir });
    const c = await writeValidationGrid({ ...o, config: { ...o.config, seed: 1 }, step: 3, dir: path.join(dir, 'other') });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(a.file, path.join(dir, 'step-1.png'));
    assert.deepEqual(fs.readFileSync(a.file), a.png);
    assert.deepEqual(a.png, b.png);
    assert.notDeepEqual(a.png, c.png);
    // 3 rows (classes 0…2) × 2 columns of 4×4 samples scaled ×2 with 2 px padding: 2·8 + 3·2 wide, 3·8 + 4·2 high.
    const png = decodePng(a.png);
    assert.deepEqual([png.width, png.height], [22, 32]);
    model.dispose();
  });

  it('teacher-training with validation on writes and logs grids, and trains bit-identical weights to a run without it', async () => {
    const before = tf.memory().numTensors;
    const off = await trainTeacher(path.join(dir, 'off'));
    const on = await trainTeacher(path.join(dir, 'on'), { every: 2, samplesPerClass: 2, steps: 2, guidanceScale: 2, seed: 5 });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(off.imagesLogged, []);
    assert.deepEqual(on.imagesLogged.map((i) => [i.tag, i.step, i.file]),
      [2, 4, 5].map((k) => ['validation', k, path.join(dir, 'on', 'validation', `step-${k}.png`)]));
    for (const image of on.imagesLogged) assert.deepEqual(fs.readFileSync(image.file!), Buffer.from(image.png));
    const [a, b] = [await weightsOf(path.join(dir, 'off', 'model.safetensors')), await weightsOf(path.join(dir, 'on', 'model.safetensors'))];
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [k, v] of a) assert.ok(Buffer.from(v).equals(Buffer.from(b.get(k)!)), `${k} differs`);
    // The checkpoints (raw weights, optimizer moments, EMA) are identical too, so resume is unaffected.
    const ck = 'checkpoints/checkpoint-000000004.safetensors';
    assert.ok(fs.readFileSync(path.join(dir, 'off', ck)).equals(fs.readFileSync(path.join(dir, 'on', ck))));
    // The evaluation loss (every checkpoint, evalBatches 1) is logged with its step, the same in both runs.
    const evals = (ctx: typeof on) => ctx.metricsLogged.filter((m) => 'evalLoss' in m.values).map((m) => [m.step, m.values.evalLoss]);
    assert.deepEqual(evals(on).map(([s]) => s), [2, 4]);
    assert.deepEqual(evals(on), evals(off));
  });

  it('stage two samples each round\'s student at its own step count, steps counted across rounds', async () => {
    const before = tf.memory().numTensors;
    const teacher = perturbWeights(tinyUNet('v_prediction'));
    const data = tinyDataResource();
    const config = validateNodeConfig(progressiveDistillationNode, {
      baseSteps: 4, rounds: [{ steps: 2, iterations: 2 }, { steps: 1, iterations: 3 }], lr: 1e-3, replay: { blockBatches: 0, times: 1 },
      evalBatches: 1, evalBatchSize: 4, evalEvery: 1, validation: { every: 2, samplesPerClass: 1, classes: [1, 2] },
    }).config as unknown as ProgressiveDistillationConfig;
    const ctx = nodeContext(config, { outDir: dir, runDir: dir, resources: { model: teacher, schedule: tinySchedule('v_prediction'), data }, streams: { batches: batchStream(data.train, { batchSize: 4, seed: 1 }) } });
    const instance = await progressiveDistillationNode.create(ctx);
    await instance.run!();
    assert.deepEqual(ctx.imagesLogged.map((i) => [i.tag, i.step]),
      [['validation/round-0-2steps', 2], ['validation/round-1-1steps', 4], ['validation/round-1-1steps', 5]]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'validation')).sort(), ['step-2.png', 'step-4.png', 'step-5.png']);
    const evals = ctx.metricsLogged.filter((m) => 'evalLoss' in m.values);
    assert.deepEqual(evals.map((m) => [m.step, m.values.round, m.values.steps]), [[1, 0, 2], [2, 0, 2], [3, 1, 1], [4, 1, 1], [5, 1, 1]]);
    await instance.dispose!();
    teacher.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
  });
});
