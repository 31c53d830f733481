import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { batchStream } from '../../src/streams/batch-stream';
import { autoencoderStatistics } from './loss';
import type { DatasetResource } from '../../src/data/resource';
import { uniformGenerator } from '../../src/data/random';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { TinyAutoencoder } from '../../test/helpers/tiny-first-stage';
import { autoencoderTrainingNode, type AutoencoderTrainingConfig } from './index';

/** 4×4 grey images that are constant on 2×2 blocks, so a 2× pool autoencoder can reconstruct them exactly. */
function blockImages(n: number, seed: number) {
  const next = uniformGenerator(seed);
  const x = new Float32Array(n * 16);
  for (let i = 0; i < n; i++) for (let by = 0; by < 2; by++) for (let bx = 0; bx < 2; bx++) {
    const v = 2 * next() - 1;
    for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) x[i * 16 + (2 * by + dy) * 4 + 2 * bx + dx] = v;
  }
  return { x, shape: [n, 4, 4, 1] as [number, number, number, number], labels: new Int32Array(n) };
}

describe('nodes/autoencoder-training', () => {
  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(autoencoderTrainingNode));
  });

  it('lowers the held-out reconstruction error of a tiny autoencoder at least 10× and records it in the file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aet-'));
    const before = tf.memory().numTensors;
    const init = new TinyAutoencoder(3);
    const data: DatasetResource = { kind: 'images', train: blockImages(64, 1), test: blockImages(16, 2), numClasses: 1 };
    const start = (await autoencoderStatistics(init, data.test)).mse;
    const config = validateNodeConfig(autoencoderTrainingNode, { iterations: 150, lr: 0.05, warmupSteps: 5, emaDecay: 0, latentPenalty: 0, evalBatches: 0 }).config as unknown as AutoencoderTrainingConfig;
    const ctx = nodeContext(config, { outDir: dir, resources: { model: init, data }, streams: { batches: batchStream(data.train, { batchSize: 16, seed: 1 }) } });
    const instance = await autoencoderTrainingNode.create(ctx);
    await instance.run!();
    const trained = await (instance.resources!.model as Promise<TinyAutoencoder>);
    const end = (await autoencoderStatistics(trained, data.test)).mse;
    assert.ok(end < start / 10, `MSE ${start} → ${end}`);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    assert.ok(Math.abs(Number(meta.heldOutMse) - end) < 1e-9);
    assert.match(ctx.logged.map((l) => l.message).join('\n'), /held-out reconstruction MSE .* latents \[2×2×2\] std/);
    await instance.dispose!();
    init.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
