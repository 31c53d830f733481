import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { importLdmCheckpoint } from '../../src/ldm/import';
import type { LdmFirstStage } from '../../src/ldm/first-stage';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { TINY_CKPT, TINY_YAML, maxAbsDiff } from '../../test/ldm/helpers';
import { ldmFirstStageNode } from './index';

describe('nodes/ldm-first-stage', () => {
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldm-fs-node-'));
    await importLdmCheckpoint({ config: TINY_YAML, ckpt: TINY_CKPT, out: dir });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(ldmFirstStageNode));
  });

  it('encodes images to latents of a quarter the side (8x8 → 2x2; the network is fully convolutional) and decodes them back; scale factor applied both ways; no leaks', async () => {
    const before = tf.memory().numTensors;
    const ctx = nodeContext({ model: dir });
    const instance = await ldmFirstStageNode.create(ctx);
    const first = instance.resources!.firstStage as LdmFirstStage;
    assert.equal(first.scaleFactor, 1);
    assert.equal(first.imageSize, 32);
    assert.match(ctx.logged[0].message, /^ldm-first-stage: \d+ parameters, f = 4, 3 latent channels, scale factor 1$/);
    tf.tidy(() => {
      const img = tf.randomUniform([1, 8, 8, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
      const z = first.encode(img);
      assert.deepEqual(z.shape, [1, 2, 2, 3]);
      // decode(z) = vq.decode(z / s): with s = 1 it is the VQ decode itself.
      assert.equal(maxAbsDiff(first.decode(z), first.vq.decode(z)), 0);
    });
    await instance.dispose!();
    assert.equal(tf.memory().numTensors, before);
  });
});
