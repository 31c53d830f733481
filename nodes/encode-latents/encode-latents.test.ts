import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateNodeConfig } from '../../src/schema/config';
import { readLatentShards } from '../../src/io/shards';
import type { DatasetResource } from '../../src/data/resource';
import { uniformGenerator } from '../../src/data/random';
import { builtinNodeTypes } from '../index';
import { latentDatasetNode, type LatentDatasetConfig, type LatentShardsResource } from '../latent-dataset';
import { nodeContext } from '../../test/helpers/node-context';
import { TinyAutoencoder } from '../../test/helpers/tiny-first-stage';
import { encodeLatentsNode, type EncodeLatentsConfig } from './index';

function images(n: number, seed: number) {
  const next = uniformGenerator(seed);
  return { x: Float32Array.from({ length: n * 16 }, () => 2 * next() - 1), shape: [n, 4, 4, 1] as [number, number, number, number], labels: Int32Array.from({ length: n }, (_, i) => i % 3) };
}

describe('nodes/encode-latents', () => {
  it('is registered (schema.json and README: test/conformance)', () => {
    assert.ok(builtinNodeTypes.includes(encodeLatentsNode));
  });

  it('writes shards whose latents equal encode(x), in order, with their labels; reused on resume', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enc-'));
    const before = tf.memory().numTensors;
    const ae = new TinyAutoencoder(2);
    const data: DatasetResource = { kind: 'images', train: images(7, 1), test: images(3, 2), numClasses: 3 };
    const config = validateNodeConfig(encodeLatentsNode, { batchSize: 2, shardSize: 3 }).config as unknown as EncodeLatentsConfig;
    const instance = await encodeLatentsNode.create(nodeContext(config, { outDir: dir, resources: { data, autoencoder: ae } }));
    await instance.run!();
    const shards = await (instance.resources!.shards as Promise<LatentShardsResource>);
    assert.deepEqual(fs.readdirSync(shards.train), ['shard-00000.safetensors', 'shard-00001.safetensors', 'shard-00002.safetensors']);
    const train = await readLatentShards(shards.train);
    assert.deepEqual(train.shape, [7, 2, 2, 2]);
    assert.deepEqual(Array.from(train.labels), Array.from(data.train.labels));
    const expected = tf.tidy(() => ae.encode(tf.tensor4d(data.train.x, data.train.shape)));
    const e = expected.dataSync();
    train.x.forEach((v, i) => assert.ok(Math.abs(v - e[i]) < 1e-6));
    expected.dispose();
    const resumedCtx = nodeContext(config, { outDir: dir, resume: true, resources: { data, autoencoder: ae } });
    const again = await encodeLatentsNode.create(resumedCtx);
    await again.run!();
    assert.match(resumedCtx.logged[0].message, /already written; reusing them/);
    ae.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('encodes a validation part into validation/, which latent-dataset reads as its validation part', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enc-'));
    const before = tf.memory().numTensors;
    const ae = new TinyAutoencoder(2);
    const data: DatasetResource = { kind: 'images', train: images(7, 1), test: images(3, 2), validation: images(4, 3), numClasses: 3 };
    const config = validateNodeConfig(encodeLatentsNode, { batchSize: 2 }).config as unknown as EncodeLatentsConfig;
    const instance = await encodeLatentsNode.create(nodeContext(config, { outDir: dir, resources: { data, autoencoder: ae } }));
    await instance.run!();
    const shards = await (instance.resources!.shards as Promise<LatentShardsResource>);
    assert.equal(shards.validation, path.join(dir, 'validation'));
    const latentConfig = validateNodeConfig(latentDatasetNode, { testSize: 0 }).config as unknown as LatentDatasetConfig;
    const latents = (await latentDatasetNode.create(nodeContext(latentConfig, { resources: { shards } }))).resources!.data as DatasetResource;
    assert.deepEqual([latents.train.shape[0], latents.test.shape[0], latents.validation!.shape[0]], [7, 3, 4]);
    assert.deepEqual(Array.from(latents.validation!.labels), Array.from(data.validation!.labels));
    const expected = tf.tidy(() => ae.encode(tf.tensor4d(data.validation!.x, data.validation!.shape)));
    const e = expected.dataSync();
    latents.validation!.x.forEach((v, i) => assert.ok(Math.abs(v - e[i]) < 1e-6));
    expected.dispose();
    // Without validation shards, latent-dataset splits validationSize off the training shards.
    const noValidation = { ...shards, validation: undefined };
    const split = validateNodeConfig(latentDatasetNode, { testSize: 0, validationSize: 2 }).config as unknown as LatentDatasetConfig;
    const splitData = (await latentDatasetNode.create(nodeContext(split, { resources: { shards: noValidation } }))).resources!.data as DatasetResource;
    assert.deepEqual([splitData.train.shape[0], splitData.test.shape[0], splitData.validation!.shape[0]], [5, 3, 2]);
    ae.dispose();
    assert.equal(tf.memory().numTensors, before);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
