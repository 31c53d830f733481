import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import { validateNodeConfig } from '../../src/schema/config';
import { consume } from '../../src/streams/stream';
import { writeLatentShard } from '../../src/io/shards';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { latentDatasetNode, type LatentDatasetConfig } from './index';

describe('nodes/latent-dataset', () => {
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latnode-'));
    // Two train shards of [2, 2, 1, 1] NHWC latents (values = example index + channel / 4), one test shard.
    const shard = (offset: number, n: number) => ({
      x: Float32Array.from({ length: n * 2 }, (_, i) => offset + Math.floor(i / 2) + (i % 2) / 4),
      shape: [n, 1, 1, 2] as [number, number, number, number],
      labels: Int32Array.from({ length: n }, (_, i) => (offset + i) % 3),
    });
    await writeLatentShard(path.join(dir, 'train', 'a.safetensors'), shard(0, 2));
    await writeLatentShard(path.join(dir, 'train', 'b.safetensors'), shard(2, 2));
    await writeLatentShard(path.join(dir, 'test.safetensors'), shard(10, 3), { dtype: 'F32' });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(latentDatasetNode));
  });

  it('reads a shard folder and a test shard, NHWC in memory, and streams batches', async () => {
    const before = tf.memory().numTensors;
    const config = validateNodeConfig(latentDatasetNode, { path: path.join(dir, 'train'), testPath: path.join(dir, 'test.safetensors'), batchSize: 2, epochs: 2, numClasses: 3 }).config;
    const instance = await latentDatasetNode.create(nodeContext(config as unknown as LatentDatasetConfig));
    const data = instance.resources!.data as DatasetResource;
    assert.equal(data.kind, 'latents');
    assert.deepEqual(data.train.shape, [4, 1, 1, 2]);
    assert.deepEqual(Array.from(data.train.x), [0, 0.25, 1, 1.25, 2, 2.25, 3, 3.25]);
    assert.deepEqual(Array.from(data.test.labels), [1, 2, 0]);
    let n = 0;
    await consume(instance.streams!.batches as Observable<Batch>, (b) => { n++; assert.deepEqual(b.x.shape, [2, 1, 1, 2]); });
    assert.equal(n, 4);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
  });

  it('takes its folders from the shards input, and names what is missing without one', async () => {
    const config = validateNodeConfig(latentDatasetNode, { testSize: 1 }).config as unknown as LatentDatasetConfig;
    await assert.rejects(Promise.resolve(latentDatasetNode.create(nodeContext(config, { id: 'lat' }))), /invalid latent-dataset "lat":\n  path: no training shards: set path or connect the shards input/);
    const instance = await latentDatasetNode.create(nodeContext(config, { resources: { shards: { train: path.join(dir, 'train'), test: path.join(dir, 'test.safetensors'), numClasses: 3 } } }));
    assert.equal((instance.resources!.data as DatasetResource).test.shape[0], 1);
  });
});
