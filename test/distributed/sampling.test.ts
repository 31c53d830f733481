/**
 * Sharded sampling and scoring (src/eval/evaluate.ts sampleImages and scoreImages with a process group), as
 * used by the evaluate and ddim-sampling nodes: 2 ranks on 127.0.0.1 against this process alone. Every
 * batch's noise depends only on (seed, batch), each scored batch is the one-process batch, and the gathers
 * add exact zeros, so the images, classifier features and predictions must be bit-identical (same SHA-256),
 * not merely close; the FID and accuracy computed from them are then the one-process numbers exactly.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadC10d } from '../../src/distributed/gloo';
import { freePort, killAllWorkers, runWorkers } from '../helpers/workers';
import { sampleTiny } from './fixtures/sample-worker';

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

  it('2 ranks (batches split 2 + 2) give bit-identical images, features and predictions to 1 process, on both ranks', async () => {
    const before = tf.memory().numTensors;
    const single = await sampleTiny();
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(single.shape, [10, 4, 4, 2]);
    const results = await runWorkers(path.join(__dirname, 'fixtures', 'sample-worker.ts'), 2, { port: await freePort(), limitMs: 100_000 });
    for (const r of results) {
      assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), single, `rank ${r.rank}`);
    }
  });
});
