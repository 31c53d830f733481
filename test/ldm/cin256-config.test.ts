/**
 * docs/examples/cin256-v2.yaml describes the real cin256-v2 model: the UNet, VQ first stage and class
 * embedder built (shape-only, nothing allocated) from it have exactly the names and shapes of the
 * 906-key state dict in keys-cin256-v2-fullsize.json (made by instantiating the reference code from the
 * unmodified YAML), less the 12 diffusion-schedule buffers the importer skips.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readLdmYaml } from '../../src/io/ldm-yaml';
import { CLASS_EMBEDDER_WEIGHT, unetParameterShapes } from '../../src/models/unet';
import { vqParameterShapes } from '../../src/models/vq';
import { LDM_SCHEDULE_BUFFERS } from '../../src/ldm/import';
import { FIXTURES } from './helpers';

const YAML = path.join(__dirname, '..', '..', 'docs', 'examples', 'cin256-v2.yaml');

describe('ldm: the cin256-v2 configuration', () => {
  it('builds exactly the 906-key state dict of the real checkpoint (UNet 688, first stage 205, embedder 1, schedule 12)', () => {
    const json = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'keys-cin256-v2-fullsize.json'), 'utf8')) as { keys: Array<{ key: string; shape: number[] }> };
    const expected = new Map(json.keys.map((k) => [k.key, k.shape]));
    assert.equal(expected.size, 906);
    const before = tf.memory().numTensors;
    const spec = readLdmYaml(YAML);
    const actual = new Map<string, number[]>();
    for (const [n, s] of unetParameterShapes(spec.unet)) actual.set(n === CLASS_EMBEDDER_WEIGHT ? n : `model.diffusion_model.${n}`, s);
    for (const [n, s] of vqParameterShapes(spec.firstStage)) actual.set(`first_stage_model.${n}`, s);
    for (const b of LDM_SCHEDULE_BUFFERS) if (expected.has(b)) actual.set(b, expected.get(b) as number[]);
    assert.equal(tf.memory().numTensors, before, 'shape-only builds allocate nothing');
    assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
    for (const [k, s] of expected) assert.deepEqual(actual.get(k), s, k);
    assert.deepEqual(spec.scheduler.beta_start, 0.0015);
    assert.equal(spec.imageSize, 256);
  });
});
