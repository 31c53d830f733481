/**
 * The whole seed pipeline as one graph file on tiny shapes: v fine-tune → stage one → stage two (two
 * rounds with replay) → evaluate → report, run through the real runtime; then the same run killed in
 * the middle of stage two's second round and resumed with `resume: true`, which must end with exactly
 * the metrics of the uninterrupted run (tolerance: 0 — same seed, same backend, every random draw a
 * function of the seed and the step).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry } from '../../nodes/builtin-registry';
import { registerNodeType } from '../../src/registry/registry';
import { parseGraphText } from '../../src/graph/validate';
import { runGraph } from '../../src/runtime/executor';
import { writeLatentShard } from '../../src/io/shards';
import { tinyLatents } from '../helpers/tiny';
import { testFlatScorerNode, testTinyUNetNode } from '../helpers/test-node-types';
import type { EvaluationMetrics } from '../../src/report/metrics';
import { assertTensorBoardMatchesLogs, readerPython } from '../helpers/tensorboard-reader';

function graphText(shards: string): string {
  const data = (seed: number) => `{ type: 'latent-dataset', config: { path: '${shards}/train', testPath: '${shards}/test.safetensors', batchSize: 8, labelDropout: 0.1, nullClass: 3, numClasses: 3, seed: ${seed} } }`;
  return `{
  version: 1,
  name: 'tiny-pipeline',
  seed: 3,
  nodes: {
    schedule: { type: 'noise-schedule', config: { betaSchedule: 'linear' } },
    unet: { type: 'test-tiny-unet' },
    'data-ft': ${data(1)},
    'data-s1': ${data(2)},
    'data-s2': ${data(3)},
    finetune: {
      type: 'v-finetune', config: { iterations: 3, accumulation: 1, lr: 1e-3, evalBatches: 1, evalBatchSize: 4 },
      inputs: { model: 'unet.model', schedule: 'schedule.schedule', batches: 'data-ft.batches', data: 'data-ft.data' },
    },
    'stage-one': {
      type: 'guidance-distillation', config: { iterations: 3, accumulation: 1, lr: 1e-3, guidanceScale: 2, evalBatches: 0 },
      inputs: { model: 'finetune.model', schedule: 'schedule.schedule', batches: 'data-s1.batches' },
    },
    'stage-two': {
      type: 'progressive-distillation',
      config: {
        baseSteps: 4, rounds: [{ steps: 2, iterations: 4 }, { steps: 1, iterations: 6, emaDecay: 0.9 }],
        accumulation: 1, lr: 1e-3, replay: { blockBatches: 2, times: 2 }, checkpointEvery: 2, evalBatches: 1, evalBatchSize: 4,
      },
      inputs: { model: 'stage-one.model', schedule: 'schedule.schedule', batches: 'data-s2.batches', data: 'data-s2.data' },
    },
    scorer: { type: 'test-flat-scorer' },
    evaluate: {
      type: 'evaluate', config: { baseSteps: 4, teacherSteps: [4, 1], samplesPerClass: 4, classes: 3, batchSize: 12, guidanceScale: 2 },
      inputs: { schedule: 'schedule.schedule', classifier: 'scorer.classifier', data: 'data-s2.data', teacher: 'finetune.model', students: 'stage-two.students' },
    },
    report: { type: 'report', config: { print: false }, inputs: { metrics: 'evaluate.metrics' } },
  },
}`;
}

describe('pipeline: the whole pipeline graph on tiny shapes', () => {
  let tmp: string;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pipeline-'));
    const train = tinyLatents(32, 1);
    await writeLatentShard(path.join(tmp, 'shards', 'train', 'a.safetensors'), { ...train, x: train.x.subarray(0, 16 * 32), shape: [16, 4, 4, 2], labels: train.labels.subarray(0, 16) }, { dtype: 'F32' });
    await writeLatentShard(path.join(tmp, 'shards', 'train', 'b.safetensors'), { ...train, x: train.x.subarray(16 * 32), shape: [16, 4, 4, 2], labels: train.labels.subarray(16) }, { dtype: 'F32' });
    await writeLatentShard(path.join(tmp, 'shards', 'test.safetensors'), tinyLatents(12, 2), { dtype: 'F32' });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function load() {
    const registry = createRegistry();
    registerNodeType(registry, testTinyUNetNode, 'test');
    registerNodeType(registry, testFlatScorerNode, 'test');
    return { registry, graph: await parseGraphText(graphText(path.join(tmp, 'shards')), path.join(tmp, 'tiny.json5'), { registry }) };
  }

  it('runs to a report, then reproduces its metrics exactly after being killed mid-round and resumed', async function () {
    this.timeout(300000);
    const before = tf.memory().numTensors;
    const { registry, graph } = await load();
    const quiet = new PassThrough();
    quiet.resume();
    const reference = await runGraph(graph, { registry, outDir: path.join(tmp, 'runs', 'reference'), progress: 'none', output: quiet, argv: ['test'] });
    assert.equal(reference.status, 'completed', reference.error?.message);
    const refMetrics = JSON.parse(fs.readFileSync(path.join(reference.runDir, 'metrics.json'), 'utf8')) as EvaluationMetrics;
    assert.deepEqual(refMetrics.cells.map((c) => [c.series, c.steps]), [
      ['teacher (DDIM, g=2)', 4], ['teacher (DDIM, g=2)', 1], ['distilled student', 2], ['distilled student', 1],
    ]);
    assert.match(fs.readFileSync(path.join(reference.runDir, 'report.html'), 'utf8'), /data:image\/png;base64,/);
    // The evaluate node records the backend the run selected (bound in the run's DI container), as the manifest does.
    assert.equal(refMetrics.backend, reference.backend.description);
    assert.equal(fs.existsSync(path.join(reference.runDir, 'stage-two', 'replay')), false);
    // TensorBoard holds what logs.jsonl holds: each stage's metrics, stage two's per round, the evaluate
    // node's FID/accuracy and grids at x = sampling steps.
    const { python, reason } = readerPython();
    if (python) {
      const tb = assertTensorBoardMatchesLogs(python, reference.runDir);
      const tags = new Set(tb.scalars.map((s) => s.tag));
      for (const tag of ['finetune/loss', 'finetune/lr', 'stage-one/loss', 'stage-two/loss', 'stage-two/round-1-1steps/loss', 'stage-two/round-1-1steps/gradNorm']) assert.ok(tags.has(tag), `${tag} missing from ${[...tags].join(', ')}`);
      assert.deepEqual(tb.scalars.filter((s) => s.tag.endsWith('/fid')).map((s) => [s.tag, s.step, s.value]),
        refMetrics.cells.map((c) => [`evaluate/${c.model.split('-')[0]}/fid`, c.steps, Math.fround(c.fid)]));
      assert.deepEqual(tb.images.map((i) => [i.tag, i.step]), [['evaluate/teacher/grid', 4], ['evaluate/teacher/grid', 1], ['evaluate/student/grid', 2], ['evaluate/student/grid', 1]]);
    } else {
      console.log(`      NOTICE: TensorBoard check skipped, the Python reader cannot run: ${reason}`);
    }

    // Kill the second run once round 1 (the 1-step round) has its step-2 checkpoint.
    const outDir = path.join(tmp, 'runs', 'killed');
    const controller = new AbortController();
    const marker = path.join(outDir, 'stage-two', 'round-1-1steps', 'checkpoints', 'checkpoint-000000002.safetensors');
    const timer = setInterval(() => { if (fs.existsSync(marker)) controller.abort(); }, 5);
    const killed = await runGraph(graph, { registry, outDir, progress: 'none', output: quiet, argv: ['test'], signal: controller.signal });
    clearInterval(timer);
    assert.equal(killed.status, 'cancelled');
    assert.equal(fs.existsSync(path.join(outDir, 'metrics.json')), false);
    assert.ok(fs.existsSync(path.join(outDir, 'stage-two', 'round-0-2steps', 'student.safetensors')));

    const resumed = await runGraph(graph, { registry, outDir, resume: true, progress: 'none', output: quiet, argv: ['test'] });
    assert.equal(resumed.status, 'completed', resumed.error?.message);
    const logs = fs.readFileSync(path.join(outDir, 'logs.jsonl'), 'utf8');
    assert.match(logs, /already trained: finetune\/model\.safetensors loaded/);
    assert.match(logs, /round 1 \(1 steps\) resumes at step [2-5]/);
    const metrics = JSON.parse(fs.readFileSync(path.join(outDir, 'metrics.json'), 'utf8')) as EvaluationMetrics;
    assert.deepEqual(metrics.cells.map((c) => [c.steps, c.fid, c.accuracy]), refMetrics.cells.map((c) => [c.steps, c.fid, c.accuracy]));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(tf.memory().numTensors, before);
  });
});
