import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import { validateNodeConfig } from '../../src/schema/config';
import { consume } from '../../src/streams/stream';
import { encodeIdxUint8 } from '../../src/io/idx';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { idxDatasetNode, type IdxDatasetConfig } from './index';

describe('nodes/idx-dataset', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idxnode-'));
    // 6 images of 2×2: image i has all pixels 51·i (0 … 255).
    const px = new Uint8Array(24);
    for (let i = 0; i < 6; i++) px.fill(51 * i, 4 * i, 4 * i + 4);
    fs.writeFileSync(path.join(dir, 'images'), encodeIdxUint8([6, 2, 2], px));
    fs.writeFileSync(path.join(dir, 'labels'), encodeIdxUint8([6], Uint8Array.from([0, 1, 2, 0, 1, 2])));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(idxDatasetNode));
  });

  it('requires testImages and testLabels together', () => {
    const { problems } = validateNodeConfig(idxDatasetNode, { images: 'a', labels: 'b', testImages: 'c' });
    assert.equal(problems.length, 1);
    assert.equal(problems[0].path, 'testLabels');
    assert.match(problems[0].message, /testImages and testLabels go together/);
  });

  it('scales bytes to [-1, 1], pads, splits and streams batches', async () => {
    const before = tf.memory().numTensors;
    const { config, problems } = validateNodeConfig(idxDatasetNode, {
      images: path.join(dir, 'images'), labels: path.join(dir, 'labels'), testSize: 2, padTo: 4, batchSize: 2, epochs: 1, shuffle: false,
    });
    assert.deepEqual(problems, []);
    const instance = await idxDatasetNode.create(nodeContext(config as unknown as IdxDatasetConfig));
    const data = instance.resources!.data as DatasetResource;
    assert.deepEqual(data.train.shape, [4, 4, 4, 1]);
    assert.deepEqual(data.test.shape, [2, 4, 4, 1]);
    // Every example: corners are padding (-1), centre pixels are 2·(51 i)/255 − 1 = 0.4 i − 1.
    for (let e = 0; e < 4; e++) {
      const ex = data.train.x.subarray(e * 16, (e + 1) * 16);
      assert.equal(ex[0], -1);
      const centre = ex[5];
      const i = Math.round((centre + 1) / 0.4);
      assert.ok(Math.abs(centre - (0.4 * i - 1)) < 1e-6);
      assert.equal(data.train.labels[e], i % 3);
    }
    let batches = 0;
    await consume(instance.streams!.batches as Observable<Batch>, (b) => { batches++; assert.deepEqual(b.x.shape, [2, 4, 4, 1]); });
    assert.equal(batches, 2);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
  });
});
