import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import type { EvaluationMetrics } from '../../src/report/metrics';
import { decodePng } from '../../src/io/png';
import { readSafetensors } from '../../src/io/safetensors';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { flatScorer, perturbWeights, tinyDataResource, tinySchedule, tinyUNet } from '../../test/helpers/tiny';
import { Container } from 'inversify';
import { RUN_BACKEND } from '../../src/backends/context';
import type { BackendInfo } from '../../src/backends';
import { chooseGuidance, evaluateNode, type EvaluateConfig } from './index';
import type { EvaluationCell } from '../../src/report/metrics';

describe('nodes/evaluate', () => {
  it('is registered; step counts must divide baseSteps', () => {
    assert.ok(builtinNodeTypes.includes(evaluateNode));
    const { problems } = validateNodeConfig(evaluateNode, { baseSteps: 8, teacherSteps: [8, 3] });
    assert.deepEqual(problems.map((p) => [p.path, p.message]), [['teacherSteps.1', 'must divide baseSteps (8)']]);
    const sweep = validateNodeConfig(evaluateNode, { teacherSteps: [], guidanceSweep: [1, 2] });
    assert.deepEqual(sweep.problems.map((p) => p.path), ['teacherSteps']);
  });

  it('scores teacher and students, writes grids (rows = classes) and metrics.json, leaks nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-'));
    const before = tf.memory().numTensors;
    const teacher = perturbWeights(tinyUNet('v_prediction', 1));
    const student = perturbWeights(tinyUNet('v_prediction', 2), 9);
    const data = { ...tinyDataResource(), kind: 'images' as const };
    const config = validateNodeConfig(evaluateNode, { baseSteps: 4, teacherSteps: [4, 1], samplesPerClass: 4, classes: 3, batchSize: 5, gridColumns: 2, guidanceScale: 2, saveSamples: true }).config as unknown as EvaluateConfig;
    const ctx = nodeContext(config, { outDir: dir, runDir: dir, resources: { schedule: tinySchedule('v_prediction'), classifier: flatScorer, data, teacher, students: [{ steps: 2, model: student }] } });
    const instance = await evaluateNode.create(ctx);
    await instance.run!();
    const m = await (instance.resources!.metrics as Promise<EvaluationMetrics>);
    assert.deepEqual(m.cells.map((c) => [c.series, c.steps, c.guidanceScale, c.samples]), [
      ['teacher (DDIM, g=2)', 4, 2, 12], ['teacher (DDIM, g=2)', 1, 2, 12], ['distilled student', 2, 1, 12],
    ]);
    for (const c of m.cells) {
      assert.ok(c.fid >= 0 && Number.isFinite(c.fid));
      assert.ok(c.accuracy >= 0 && c.accuracy <= 1);
      // 3 rows × 2 columns of 4×4 images at scale 2 with 2-pixel padding.
      const png = decodePng(fs.readFileSync(path.join(dir, c.grid!)));
      assert.deepEqual([png.width, png.height], [2 * 8 + 3 * 2, 3 * 8 + 4 * 2]);
    }
    assert.ok(Number.isFinite(m.realFid!));
    // Logged per cell with the step count as the step (TensorBoard: evaluate/teacher/fid over steps): the
    // same numbers as metrics.json, and the grid PNG as written.
    assert.deepEqual(ctx.metricsLogged, m.cells.map((c) => ({ step: c.steps, values: { [`${c.model.split('-')[0]}/fid`]: c.fid, [`${c.model.split('-')[0]}/accuracy`]: c.accuracy } })));
    assert.deepEqual(ctx.metricsLogged.map((r) => Object.keys(r.values)[0]), ['teacher/fid', 'teacher/fid', 'student/fid']);
    assert.deepEqual(ctx.imagesLogged.map((i) => [i.tag, i.step, i.file && path.relative(dir, i.file)]), m.cells.map((c) => [`${c.model.split('-')[0]}/grid`, c.steps, c.grid]));
    for (const i of ctx.imagesLogged) assert.deepEqual(Buffer.from(i.png), fs.readFileSync(i.file!));
    const saved = await readSafetensors(path.join(dir, 'samples', 'student-2.safetensors'));
    assert.deepEqual(saved.tensors.get('images')!.shape, [12, 2, 4, 4]);
    assert.deepEqual(Array.from(saved.tensors.get('labels')!.data), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')).cells.length, 3);
    teacher.dispose();
    student.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('records the run\'s backend from the run\'s DI container (no global lookup); without a container, the TF.js backend name', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-'));
    const before = tf.memory().numTensors;
    const teacher = perturbWeights(tinyUNet('v_prediction', 1));
    const data = { ...tinyDataResource(), kind: 'images' as const };
    const config = validateNodeConfig(evaluateNode, { baseSteps: 1, teacherSteps: [1], samplesPerClass: 2, classes: 2, batchSize: 4, gridColumns: 2 }).config as unknown as EvaluateConfig;
    const container = new Container();
    const bound: BackendInfo = { name: 'cpu', tfBackend: 'cpu', threads: 1, description: 'cpu (bound in the run container)' };
    container.bind(RUN_BACKEND).toConstantValue(bound);
    const evaluate = async (withContainer: boolean) => {
      const base = nodeContext(config, { outDir: dir, runDir: dir, resources: { schedule: tinySchedule('v_prediction'), classifier: flatScorer, data, teacher } });
      const instance = await evaluateNode.create(withContainer ? { ...base, container } : base);
      await instance.run!();
      return (instance.resources!.metrics as Promise<EvaluationMetrics>);
    };
    assert.equal((await evaluate(true)).backend, 'cpu (bound in the run container)');
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')).backend, 'cpu (bound in the run container)');
    assert.equal((await evaluate(false)).backend, tf.getBackend());
    teacher.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('split "validation" measures FID against the validation part (a different reference than test); without one it is a typed error before sampling', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-'));
    const before = tf.memory().numTensors;
    const teacher = perturbWeights(tinyUNet('v_prediction', 1));
    const base = { ...tinyDataResource(), kind: 'images' as const };
    const withValidation = { ...base, validation: tinyDataResource(6).train };
    const run = async (split: 'test' | 'validation', data: typeof base) => {
      const config = validateNodeConfig(evaluateNode, { baseSteps: 1, teacherSteps: [1], samplesPerClass: 2, classes: 2, batchSize: 4, split, seed: 5 }).config as unknown as EvaluateConfig;
      const instance = await evaluateNode.create(nodeContext(config, { outDir: dir, runDir: dir, resources: { schedule: tinySchedule('v_prediction'), classifier: flatScorer, data, teacher } }));
      await instance.run!();
      return instance.resources!.metrics as Promise<EvaluationMetrics>;
    };
    const test = await run('test', withValidation);
    const validation = await run('validation', withValidation);
    assert.deepEqual([test.split, test.referenceSize, validation.split, validation.referenceSize], ['test', 8, 'validation', 6]);
    // Same samples (same seed), different reference: different FID, same accuracy.
    assert.equal(test.cells[0].accuracy, validation.cells[0].accuracy);
    assert.notEqual(test.cells[0].fid, validation.cells[0].fid);
    await assert.rejects(run('validation', base), (e: Error) => e.name === 'ConfigError' && /no validation part/.test(JSON.stringify(e)) && /validationSize/.test(JSON.stringify(e)));
    teacher.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('guidanceSweep samples the teacher at each scale and chooses the lowest FID among the accurate enough ones', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-'));
    const teacher = perturbWeights(tinyUNet('v_prediction', 1));
    const data = { ...tinyDataResource(), kind: 'images' as const, validation: tinyDataResource(6).train };
    const config = validateNodeConfig(evaluateNode, { baseSteps: 2, teacherSteps: [2, 1], samplesPerClass: 2, classes: 2, batchSize: 4, split: 'validation', guidanceSweep: [1, 3] }).config as unknown as EvaluateConfig;
    const instance = await evaluateNode.create(nodeContext(config, { outDir: dir, runDir: dir, resources: { schedule: tinySchedule('v_prediction'), classifier: flatScorer, data, teacher } }));
    await instance.run!();
    const m = await (instance.resources!.metrics as Promise<EvaluationMetrics>);
    assert.deepEqual(m.cells.map((c) => [c.series, c.steps, c.guidanceScale]), [
      ['teacher (DDIM, g=1)', 2, 1], ['teacher (DDIM, g=1)', 1, 1], ['teacher (DDIM, g=3)', 2, 3], ['teacher (DDIM, g=3)', 1, 3],
    ]);
    const at2 = m.cells.filter((c) => c.steps === 2);
    assert.equal(m.choice!.guidanceScale, at2.reduce((a, b) => (b.fid < a.fid ? b : a)).guidanceScale);
    assert.deepEqual([m.choice!.steps, m.choice!.split], [2, 'validation']);
    teacher.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('chooseGuidance: lowest FID among scales reaching the accuracy floor; none reaches it: the most accurate', () => {
    const cell = (g: number, fid: number, accuracy: number, steps = 64): EvaluationCell => ({ series: `t${g}`, model: `teacher-g${g}-${steps}`, role: 'teacher', steps, guidanceScale: g, fid, accuracy, samples: 1000 });
    const cells = [cell(1, 10, 0.9), cell(2, 12, 0.99), cell(3, 15, 0.995), cell(4, 30, 0.999), cell(1.5, 1, 1, 8)];
    assert.equal(chooseGuidance(cells, 64, 0, 'validation').guidanceScale, 1);
    assert.equal(chooseGuidance(cells, 64, 0.99, 'validation').guidanceScale, 2);
    assert.equal(chooseGuidance(cells, 64, 0.995, 'validation').guidanceScale, 3);
    const none = chooseGuidance(cells, 64, 0.9999, 'validation');
    assert.equal(none.guidanceScale, 4);
    assert.match(none.rule, /the most accurate/);
  });
});
