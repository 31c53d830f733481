import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { importLdmCheckpoint } from '../../src/ldm/import';
import type { ClassEmbedder } from '../../src/models/class-embedder';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { TINY_CKPT, TINY_YAML } from '../../test/ldm/helpers';
import { ldmClassEmbedderNode } from './index';

describe('nodes/ldm-class-embedder', () => {
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-emb-node-'));
    await importLdmCheckpoint({ config: TINY_YAML, ckpt: TINY_CKPT, out: dir });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(ldmClassEmbedderNode));
  });

  it('embeds labels into [B, 1, 16] context rows of the imported table; no leaks', async () => {
    const before = tf.memory().numTensors;
    const instance = await ldmClassEmbedderNode.create(nodeContext({ model: dir }));
    const emb = instance.resources!.classEmbedder as ClassEmbedder;
    tf.tidy(() => {
      const ctx = emb.embed(tf.tensor1d([0, 1000], 'int32'));
      assert.deepEqual(ctx.shape, [2, 1, 16]);
      const table = emb.variables.get('embedding.weight')!;
      assert.deepEqual(Array.from(ctx.dataSync().slice(16)), Array.from(table.dataSync().slice(1000 * 16)));
    });
    await instance.dispose!();
    assert.equal(tf.memory().numTensors, before);
  });
});
