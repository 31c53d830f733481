/**
 * The seed pipeline as one graph on tiny shapes (v fine-tune → stage one → stage two with two rounds and
 * replay → evaluate → report), run through the real runtime on WebGPU and on the CPU backend: every
 * training, sampling and evaluation node reads its tensors asynchronously, so the whole run works on
 * WebGPU, and its metrics match the CPU backend's. Needs a WebGPU adapter (`npm run test:webgpu` runs it
 * on Mesa's llvmpipe, see docs/gpu.md).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry } from '../../../nodes/builtin-registry';
import { registerNodeType } from '../../../src/registry/registry';
import { parseGraphText } from '../../../src/graph/validate';
import { runGraph } from '../../../src/runtime/executor';
import { writeLatentShard } from '../../../src/io/shards';
import type { EvaluationMetrics } from '../../../src/report/metrics';
import { tinyLatents } from '../../helpers/tiny';
import { testFlatScorerNode, testTinyUNetNode } from '../../helpers/test-node-types';
import { leaveWebGpu, useWebGpu } from './compare';

function graphText(shards: string): string {
  const data = (seed: number): string => `{ type: 'latent-dataset', config: { path: '${shards}/train', testPath: '${shards}/test.safetensors', batchSize: 8, labelDropout: 0.1, nullClass: 3, numClasses: 3, seed: ${seed} } }`;
  return `{
  version: 1,
  name: 'tiny-pipeline-webgpu',
  seed: 3,
  nodes: {
    schedule: { type: 'noise-schedule', config: { betaSchedule: 'linear' } },
    unet: { type: 'test-tiny-unet' },
    'data-ft': ${data(1)},
    'data-s1': ${data(2)},
    'data-s2': ${data(3)},
    finetune: {
      type: 'v-finetune', config: { iterations: 3, accumulation: 2, lr: 1e-3, evalBatches: 1, evalBatchSize: 4, checkpointEvery: 3 },
      inputs: { model: 'unet.model', schedule: 'schedule.schedule', batches: 'data-ft.batches', data: 'data-ft.data' },
    },
    'stage-one': {
      type: 'guidance-distillation', config: { iterations: 3, accumulation: 1, lr: 1e-3, guidanceScale: 2, evalBatches: 0 },
      inputs: { model: 'finetune.model', schedule: 'schedule.schedule', batches: 'data-s1.batches' },
    },
    'stage-two': {
      type: 'progressive-distillation',
      config: {
        baseSteps: 4, rounds: [{ steps: 2, iterations: 3 }, { steps: 1, iterations: 3, emaDecay: 0.9 }],
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

describe('backends/webgpu: the whole pipeline graph on WebGPU', function () {
  this.timeout(600_000);
  let tmp: string;

  before(async () => {
    await useWebGpu();
    await tf.setBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pipeline-webgpu-'));
    const train = tinyLatents(32, 1);
    await writeLatentShard(path.join(tmp, 'shards', 'train', 'a.safetensors'), { ...train, x: train.x.subarray(0, 16 * 32), shape: [16, 4, 4, 2], labels: train.labels.subarray(0, 16) }, { dtype: 'F32' });
    await writeLatentShard(path.join(tmp, 'shards', 'train', 'b.safetensors'), { ...train, x: train.x.subarray(16 * 32), shape: [16, 4, 4, 2], labels: train.labels.subarray(16) }, { dtype: 'F32' });
    await writeLatentShard(path.join(tmp, 'shards', 'test.safetensors'), tinyLatents(12, 2), { dtype: 'F32' });
  });
  after(async () => {
    fs.rmSync(tmp, { recursive: true, force: true });
    await leaveWebGpu();
  });

  async function run(backend: string): Promise<EvaluationMetrics> {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const registry = createRegistry();
    registerNodeType(registry, testTinyUNetNode, 'test');
    registerNodeType(registry, testFlatScorerNode, 'test');
    const graph = await parseGraphText(graphText(path.join(tmp, 'shards')), path.join(tmp, 'tiny.json5'), { registry });
    const quiet = new PassThrough();
    quiet.resume();
    const result = await runGraph(graph, { registry, outDir: path.join(tmp, 'runs', backend), progress: 'none', output: quiet, argv: ['test'] });
    assert.equal(result.status, 'completed', `${backend}: ${result.error?.message}`);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(tf.memory().numTensors, before, `no tensor leaks on ${backend}`);
    return JSON.parse(fs.readFileSync(path.join(result.runDir, 'metrics.json'), 'utf8')) as EvaluationMetrics;
  }

  it('runs every stage, evaluates and reports; FIDs match the CPU backend to 1e-5 relative, accuracies exactly', async () => {
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    await tf.setBackend('cpu');
    assert.deepEqual(gpu.cells.map((c) => [c.series, c.steps]), [
      ['teacher (DDIM, g=2)', 4], ['teacher (DDIM, g=2)', 1], ['distilled student', 2], ['distilled student', 1],
    ]);
    // The real reference is computed from the same held-out latents on both backends.
    const realCpu = cpu.realFid ?? NaN;
    const realGpu = gpu.realFid ?? NaN;
    assert.ok(Math.abs(realGpu - realCpu) <= 1e-6 * (1 + realCpu), `real FID ${realGpu} vs CPU ${realCpu}`);
    cpu.cells.forEach((c, i) => {
      const g = gpu.cells[i];
      assert.ok(Number.isFinite(c.fid), `${c.model}: CPU FID ${c.fid}`);
      // Samples differ by float32 rounding; FID goes through a covariance square root. Measured on
      // llvmpipe: relative differences ≤ 6e-8; the tolerance is 1e-5 relative.
      assert.ok(Math.abs(g.fid - c.fid) <= 1e-5 * (1 + c.fid), `${c.model}: FID ${g.fid} vs CPU ${c.fid}`);
      assert.equal(g.accuracy, c.accuracy, `${c.model}: accuracy`);
    });
  });
});
