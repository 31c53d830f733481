import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { batchStream } from '../../src/streams/batch-stream';
import { classifierAccuracy } from './loss';
import type { DatasetResource } from '../../src/data/resource';
import { uniformGenerator } from '../../src/data/random';
import { builtinNodeTypes } from '../index';
import { nodeContext } from '../../test/helpers/node-context';
import { TinyClassifier } from '../../test/helpers/tiny-first-stage';
import { classifierTrainingNode, type ClassifierTrainingConfig } from './index';

/** 2×2 images whose class (0, 1, 2) is the brightest of their first three pixels, plus noise. */
function separable(n: number, seed: number) {
  const next = uniformGenerator(seed);
  const x = new Float32Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let p = 0; p < 4; p++) x[i * 4 + p] = 0.2 * (next() - 0.5) + (p === labels[i] ? 1 : -1);
  }
  return { x, shape: [n, 2, 2, 1] as [number, number, number, number], labels };
}

describe('nodes/classifier-training', () => {
  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(classifierTrainingNode));
  });

  it('learns a separable 3-class problem to 100% held-out accuracy and logs it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clf-'));
    const before = tf.memory().numTensors;
    const init = new TinyClassifier(4, 3, 5);
    const data: DatasetResource = { kind: 'images', train: separable(60, 1), test: separable(30, 2), numClasses: 3 };
    const config = validateNodeConfig(classifierTrainingNode, { iterations: 80, lr: 0.05, warmupSteps: 5, emaDecay: 0, evalBatches: 1, evalBatchSize: 30, checkpointEvery: 40 }).config as unknown as ClassifierTrainingConfig;
    const ctx = nodeContext(config, { outDir: dir, resources: { model: init, data }, streams: { batches: batchStream(data.train, { batchSize: 12, seed: 1 }) } });
    const instance = await classifierTrainingNode.create(ctx);
    await instance.run!();
    const trained = await (instance.resources!.model as Promise<TinyClassifier>);
    assert.equal(await classifierAccuracy(trained, data.test), 1);
    assert.match(ctx.logged.map((l) => l.message).join('\n'), /held-out accuracy 100\.00% \(30 images\)/);
    assert.ok(fs.existsSync(path.join(dir, 'checkpoints', 'best.safetensors')));
    await instance.dispose!();
    init.dispose();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
