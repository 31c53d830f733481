import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { decodePng } from '../../src/io/png';
import { readSafetensors } from '../../src/io/safetensors';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { perturbWeights, tinySchedule, tinyUNet } from '../../test/helpers/tiny';
import { ddimSamplingNode, labelsPerRow, type DdimSamplingConfig } from './index';
import { sampleDdim } from '../../src/diffusion/sampler';

describe('nodes/ddim-sampling', () => {
  it('is registered; checks that steps divide baseSteps', () => {
    assert.ok(builtinNodeTypes.includes(ddimSamplingNode));
    const { problems } = validateNodeConfig(ddimSamplingNode, { latentShape: [4, 4, 2], baseSteps: 4, steps: [3] });
    assert.deepEqual(problems.map((p) => p.path), ['steps.0']);
  });

  it('writes a grid per step count and the same images for the same seed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddim-'));
    const before = tf.memory().numTensors;
    const model = perturbWeights(tinyUNet('v_prediction'));
    const config = validateNodeConfig(ddimSamplingNode, { latentShape: [4, 4, 2], steps: [2, 1], classes: 3, samplesPerClass: 2, guidanceScale: 2, saveImages: true, seed: 5 }).config as unknown as DdimSamplingConfig;
    const run = async (out: string) => {
      const instance = await ddimSamplingNode.create(nodeContext(config, { outDir: out, runDir: out, resources: { model, schedule: tinySchedule('v_prediction') } }));
      await instance.run!();
    };
    await run(dir);
    const png = decodePng(fs.readFileSync(path.join(dir, 'samples-2steps.png')));
    assert.deepEqual([png.width, png.height], [2 * 8 + 3 * 2, 3 * 8 + 4 * 2]);
    const a = await readSafetensors(path.join(dir, 'samples-1steps.safetensors'));
    assert.deepEqual(a.tensors.get('images')!.shape, [6, 2, 4, 4]);
    assert.deepEqual(Array.from(a.tensors.get('labels')!.data), [0, 0, 1, 1, 2, 2]);
    const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'ddim-'));
    await run(dir2);
    const b = await readSafetensors(path.join(dir2, 'samples-1steps.safetensors'));
    assert.deepEqual(Array.from(b.tensors.get('images')!.data), Array.from(a.tensors.get('images')!.data));
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(dir2, { recursive: true, force: true });
  });

  it('samples an explicit label list (rows in that order) with eta and guidance rescale passed to the DDIM sampler', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddim-'));
    const before = tf.memory().numTensors;
    const model = perturbWeights(tinyUNet('v_prediction'));
    const schedule = tinySchedule('v_prediction');
    const config = validateNodeConfig(ddimSamplingNode, {
      latentShape: [4, 4, 2], steps: [2], labels: [2, 0], samplesPerClass: 3, guidanceScale: 2, guidanceRescale: 0.7, eta: 0.5, saveImages: true, seed: 5,
    }).config as unknown as DdimSamplingConfig;
    const instance = await ddimSamplingNode.create(nodeContext(config, { outDir: dir, runDir: dir, resources: { model, schedule } }));
    await instance.run!();
    const png = decodePng(fs.readFileSync(path.join(dir, 'samples-2steps.png')));
    assert.deepEqual([png.width, png.height], [3 * 8 + 4 * 2, 2 * 8 + 3 * 2]);
    const saved = await readSafetensors(path.join(dir, 'samples-2steps.safetensors'));
    assert.deepEqual(Array.from(saved.tensors.get('labels')!.data), [2, 2, 2, 0, 0, 0]);
    // The same call of the sampler (one batch: seed "5/0"), clipped to [-1, 1] and written NCHW: equal to the bit.
    const expected = tf.tidy(() => tf.transpose(tf.clipByValue(sampleDdim(model, schedule, {
      steps: 2, labels: labelsPerRow([2, 0], 3), shape: [4, 4, 2], seed: '5/0', guidance: { scale: 2 }, rescale: 0.7, eta: 0.5,
    }), -1, 1), [0, 3, 1, 2]));
    assert.deepEqual(Array.from(saved.tensors.get('images')!.data as Float32Array), Array.from(expected.dataSync()));
    const deterministic = tf.tidy(() => sampleDdim(model, schedule, { steps: 2, labels: labelsPerRow([2, 0], 3), shape: [4, 4, 2], seed: '5/0', guidance: { scale: 2 } }));
    assert.notDeepEqual(Array.from(deterministic.dataSync()), Array.from(expected.dataSync()), 'eta and rescale change the samples');
    tf.dispose([expected, deterministic]);
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
