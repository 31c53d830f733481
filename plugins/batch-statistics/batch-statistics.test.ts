import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, loadGraph, pullStream, runGraph } from 'distillery';
import { describeConformance } from 'distillery/testing';
import plugin, { batchStatisticsNode, StatisticsAccumulator, mergeMoments, type DataStatistics } from './index';

const close = (actual: number, expected: number, rel: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected} (relative tolerance ${rel})`);

describe('plugins/batch-statistics', () => {
  it('exports a plugin with the batch-statistics node type', () => {
    assert.equal(plugin.name, 'batch-statistics');
    assert.deepEqual(plugin.nodeTypes.map((t) => t.type), ['batch-statistics']);
  });

  it('hand example: 1, 2, 3, 4 in two batches', () => {
    const acc = new StatisticsAccumulator();
    acc.add([1, 2], [1, 1, 2, 1], [7]);
    acc.add([3, 4], [1, 1, 2, 1], [7]);
    const s = acc.result();
    // mean 10/4 = 2.5; population variance ((1.5² + 0.5²)·2)/4 = 1.25; std √1.25.
    assert.equal(s.overall.mean, 2.5);
    assert.equal(s.overall.std, Math.sqrt(1.25));
    assert.equal(s.scaleFactor, 1 / Math.sqrt(1.25));
    assert.deepEqual([s.overall.min, s.overall.max], [1, 4]);
    assert.deepEqual(s.labelCounts, { 7: 2 });
    assert.deepEqual([s.batches, s.examples, s.valuesPerChannel], [2, 2, 4]);
  });

  it('merging batch moments equals a two-pass computation over all the data, per channel (offset 1e4)', () => {
    // Deterministic data with a large offset, where the one-pass formula would lose digits.
    let state = 12345;
    const rand = (): number => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const acc = new StatisticsAccumulator();
    const all: number[][] = [[], []];
    for (const b of [3, 1, 5, 2]) {
      const x: number[] = [];
      for (let i = 0; i < b * 2 * 2; i++) {
        const v0 = 1e4 + rand();
        const v1 = -3 + 2 * rand();
        x.push(v0, v1);
        all[0].push(v0);
        all[1].push(v1);
      }
      acc.add(x, [b, 2, 2, 2], Array.from({ length: b }, (_, i) => i % 3));
    }
    const s = acc.result();
    for (let ch = 0; ch < 2; ch++) {
      const mean = all[ch].reduce((a, v) => a + v, 0) / all[ch].length;
      const std = Math.sqrt(all[ch].reduce((a, v) => a + (v - mean) ** 2, 0) / all[ch].length);
      close(s.channels[ch].mean, mean, 1e-12, `channel ${ch} mean`);
      close(s.channels[ch].std, std, 1e-9, `channel ${ch} std`);
      assert.equal(s.channels[ch].min, Math.min(...all[ch]));
      assert.equal(s.channels[ch].max, Math.max(...all[ch]));
    }
    const both = [...all[0], ...all[1]];
    const mean = both.reduce((a, v) => a + v, 0) / both.length;
    close(s.overall.std, Math.sqrt(both.reduce((a, v) => a + (v - mean) ** 2, 0) / both.length), 1e-9, 'overall std');
    // labels i % 3 for batch sizes 3, 1, 5, 2: [0 1 2] [0] [0 1 2 0 1] [0 1]
    assert.deepEqual(s.labelCounts, { 0: 5, 1: 4, 2: 2 });
    assert.deepEqual(mergeMoments({ n: 0, mean: 0, m2: 0 }, { n: 2, mean: 1, m2: 3 }), { n: 2, mean: 1, m2: 3 });
  });

  it('rejects inconsistent batches and empty input with clear messages', () => {
    const acc = new StatisticsAccumulator();
    assert.throws(() => acc.result(), /^RangeError: no batch was read, so there are no statistics$/);
    acc.add([0, 0, 0, 0], [1, 2, 2, 1], [0]);
    assert.throws(() => acc.add([0, 0, 0, 0], [1, 1, 2, 2], [0]), /^RangeError: batch 1 has examples of shape \[1, 2, 2\], earlier batches \[2, 2, 1\]$/);
    assert.throws(() => acc.add([0], [1, 2, 2, 1], [0]), /^RangeError: batch data has 1 values, shape \[1, 2, 2, 1\] needs 4$/);
  });

  it('end to end: graphs/mnist/statistics.json5 runs with the plugin and writes its statistics', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-stats-'));
    try {
      const registry = createRegistry();
      const graph = await loadGraph('graphs/mnist/statistics.json5', { registry, sets: ['stats.config.maxBatches=5', 'stats.config.logEvery=2'] });
      assert.equal(registry.sourceOf('batch-statistics'), 'plugin "batch-statistics" (plugins/batch-statistics)');
      const before = tf.memory().numTensors;
      const result = await runGraph(graph, { outDir: path.join(tmp, 'run'), progress: 'none', output: new PassThrough() });
      assert.equal(result.status, 'completed', result.error?.message);
      assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
      const s = JSON.parse(fs.readFileSync(path.join(tmp, 'run', 'stats', 'statistics.json'), 'utf8')) as DataStatistics;
      // 5 batches of 100 digits of 32×32×1, scaled to [-1, 1] on a background of -1 (nodes/mnist-dataset).
      assert.deepEqual([s.batches, s.examples, s.valuesPerChannel], [5, 500, 500 * 32 * 32]);
      assert.deepEqual(s.exampleShape, [32, 32, 1]);
      assert.deepEqual([s.overall.min, s.overall.max], [-1, 1]);
      assert.equal(Object.values(s.labelCounts).reduce((a, b) => a + b, 0), 500);
      assert.ok(s.overall.mean > -1 && s.overall.mean < 0, 'mostly background');
      const metrics = fs.readFileSync(path.join(tmp, 'run', 'logs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
        .filter((l) => l.kind === 'metrics');
      assert.deepEqual(metrics.map((m) => m.step), [2, 4]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// The conformance suite every node type passes, as a plugin author runs it: schema ↔ schema.json ↔ README
// table, config round trip, a located problem for a bad config, and create → run → dispose on three of five
// tiny batches with no tensor leaked.
describeConformance(batchStatisticsNode, {
  config: { maxBatches: 3 },
  inputs: () => ({
    streams: {
      // pullStream: items belong to the stream and are disposed once consumed, as in a run.
      batches: pullStream(async function* () {
        for (let index = 0; index < 5; index++) yield { x: tf.fill([2, 2, 2, 1], index), labels: tf.tensor1d([0, 1], 'int32'), index, epoch: 0 };
      }),
    },
  }),
}, { folder: __dirname });
