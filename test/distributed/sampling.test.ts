/**
 * Sharded sampling and scoring (src/eval/evaluate.ts sampleImages and scoreImages with a process group), as
 * used by the evaluate and ddim-sampling nodes: 2 ranks on 127.0.0.1 against this process alone. With eta 0
 * every batch's rows are split across the ranks (each rank starts from its rows of the batch's z_T); with
 * eta > 0 whole batches are dealt. Every batch's noise depends only on (seed, batch), the pure-JS CPU backend
 * computes each row independently of the batch size, and the gathers add exact zeros, so the images,
 * classifier features and predictions must be bit-identical (same SHA-256), not merely close; the FID and
 * accuracy computed from them are then the one-process numbers exactly. (On libtorch a smaller batch may round
 * differently: the main job's table under --nproc-per-node 2 is nevertheless identical to every printed digit,
 * docs/distributed.md.)
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadC10d } from '../../src/distributed/gloo';
import { freePort, killAllWorkers, runWorkers } from '../helpers/workers';
import { sampleTiny } from './fixtures/sample-worker';
import { rowShard } from '../../src/eval/evaluate';

describe('distributed: sharded sampling for evaluation', function () {
  this.timeout(120_000);
  before(function () {
    try {
      loadC10d();
    } catch {
      this.skip();
    }
  });
  afterEach(killAllWorkers);

  it('rowShard splits a batch into contiguous near-equal row ranges that cover it once', () => {
    assert.deepEqual([0, 1].map((r) => rowShard(500, r, 2)), [[0, 250], [250, 500]]);
    assert.deepEqual([0, 1, 2].map((r) => rowShard(10, r, 3)), [[0, 3], [3, 6], [6, 10]]);
    assert.deepEqual([0, 1, 2].map((r) => rowShard(1, r, 3)), [[0, 0], [0, 0], [0, 1]]);
  });

  it('2 ranks give bit-identical images, features and predictions to 1 process, on both ranks: rows split (batch 3; one batch of 10) and whole batches dealt (eta 0.5)', async () => {
    const before = tf.memory().numTensors;
    const single = await sampleTiny();
    assert.equal(tf.memory().numTensors, before);
    assert.equal(single.length, 3);
    for (const c of single) assert.deepEqual(c.shape, [10, 4, 4, 2]);
    // The three cases draw different images (the noise is seeded per batch, and eta changes the trajectory), so
    // each comparison below is a real one.
    assert.equal(new Set(single.map((c) => c.digest)).size, 3);
    const results = await runWorkers(path.join(__dirname, 'fixtures', 'sample-worker.ts'), 2, { port: await freePort(), limitMs: 100_000 });
    for (const r of results) {
      assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), single, `rank ${r.rank}`);
    }
  });
});
