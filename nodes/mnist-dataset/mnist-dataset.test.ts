import { strict as assert } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { take, type Observable } from 'rxjs';
import { validateNodeConfig } from '../../src/schema/config';
import { consume } from '../../src/streams/stream';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { mnistDatasetNode, type MnistDatasetConfig } from './index';

describe('nodes/mnist-dataset', () => {
  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(mnistDatasetNode));
  });

  it('fills defaults and rejects unknown keys', () => {
    const { config, problems } = validateNodeConfig(mnistDatasetNode, {});
    assert.deepEqual(problems, []);
    assert.deepEqual(config, { padTo: 32, testSize: 1000, validationSize: 0, splitSeed: 0, batchSize: 64, shuffle: true, labelDropout: 0, nullClass: 10 });
    const bad = validateNodeConfig(mnistDatasetNode, { batchsize: 3 });
    assert.equal(bad.problems.length, 1);
    assert.match(bad.problems[0].message, /batchsize/);
  });

  it('splits 9,000 / 1,000 and streams seeded batches with label dropout, leaking nothing', async function () {
    this.timeout(30000);
    const before = tf.memory().numTensors;
    const config = validateNodeConfig(mnistDatasetNode, { batchSize: 8, labelDropout: 0.5, maxBatches: 3 }).config as unknown as MnistDatasetConfig;
    const instance = await mnistDatasetNode.create(nodeContext(config, { seed: 4 }));
    const data = instance.resources!.data as DatasetResource;
    assert.equal(data.train.shape[0], 9000);
    assert.equal(data.test.shape[0], 1000);
    assert.deepEqual(data.train.shape.slice(1), [32, 32, 1]);
    const seen: Array<{ shape: number[]; labels: number[]; index: number }> = [];
    await consume(instance.streams!.batches as Observable<Batch>, (b) => {
      seen.push({ shape: b.x.shape, labels: Array.from(b.labels.dataSync()), index: b.index });
    });
    assert.deepEqual(seen.map((s) => s.index), [0, 1, 2]);
    assert.deepEqual(seen[0].shape, [8, 32, 32, 1]);
    const all = seen.flatMap((s) => s.labels);
    assert.ok(all.includes(10), 'some labels dropped to the null class 10');
    assert.ok(all.some((l) => l < 10));
    // Same seed → same batches.
    const again = await mnistDatasetNode.create(nodeContext(config, { seed: 4 }));
    const first: number[] = [];
    await consume((again.streams!.batches as Observable<Batch>).pipe(take(1)), (b) => { first.push(...b.labels.dataSync()); });
    assert.deepEqual(first, seen[0].labels);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
  });

  it('validationSize 500 with testSize 500 splits the same 1,000 held-out digits: training unchanged, parts disjoint', async () => {
    const whole = (await mnistDatasetNode.create(nodeContext(validateNodeConfig(mnistDatasetNode, {}).config as unknown as MnistDatasetConfig))).resources!.data as DatasetResource;
    const split = (await mnistDatasetNode.create(nodeContext(validateNodeConfig(mnistDatasetNode, { testSize: 500, validationSize: 500 }).config as unknown as MnistDatasetConfig))).resources!.data as DatasetResource;
    assert.equal(whole.validation, undefined);
    assert.deepEqual([split.train.shape[0], split.test.shape[0], split.validation!.shape[0]], [9000, 500, 500]);
    assert.deepEqual(split.train.x, whole.train.x);
    const per = 32 * 32;
    assert.deepEqual(split.test.x, whole.test.x.subarray(0, 500 * per));
    assert.deepEqual(split.validation!.x, whole.test.x.subarray(500 * per));
    assert.deepEqual(Array.from(split.validation!.labels), Array.from(whole.test.labels.subarray(500)));
  });
});
