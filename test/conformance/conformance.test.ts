/**
 * The conformance suite (src/testing/conformance.ts) over every built-in node type (nodes/index.ts) and
 * the example plugin. Every type gets the schema, docs, round-trip and located-problem checks; the types
 * below with a tiny fixture also run create → run → dispose (no leaked tensors), and the training stages
 * cancel-and-resume. Fixtures use the tiny models of test/helpers/tiny.ts (a 4×4×2-latent UNet).
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { builtinNodeTypes } from '../../nodes';
import batchStatisticsPlugin from '../../plugins/batch-statistics';
import { describeNodeType } from '../../src/cli/commands/nodes';
import { batchStream } from '../../src/streams/batch-stream';
import * as tf from '@tensorflow/tfjs-core';
import { defineNodeType, type NodeTypeDefinition } from '../../src/registry/types';
import { NodeConfig, Type } from '../../src/schema/typebox';
import { nodeFolders } from '../../src/schema/node-folders';
import { conformanceChecks, describeConformance, type ConformanceFixture } from '../../src/testing';
import type { ArrayDataset } from '../../src/data/dataset';
import type { DatasetResource } from '../../src/data/resource';
import { uniformGenerator } from '../../src/data/random';
import { TinyAutoencoder, TinyClassifier } from '../helpers/tiny-first-stage';
import { perturbWeights, tinyLatents, tinySchedule, tinyUNet } from '../helpers/tiny';

const root = path.resolve(__dirname, '..', '..');

const TINY_UNET = {
  image_size: 4, in_channels: 2, out_channels: 2, model_channels: 8, num_res_blocks: 1, attention_resolutions: [],
  channel_mult: [1], num_classes: 4, num_groups: 4, num_heads: 1,
};

/** A tiny denoising stage's inputs: the tiny UNet, its schedule, a stream of 4-example latent batches. */
function stageInputs(predictionType: 'epsilon' | 'v_prediction' = 'epsilon') {
  return () => {
    const model = perturbWeights(tinyUNet(predictionType));
    return {
      resources: { model, schedule: tinySchedule(predictionType) },
      streams: { batches: batchStream(tinyLatents(16), { batchSize: 4, seed: 1 }) },
      dispose: () => model.dispose(),
    };
  };
}

/** n grey side×side images uniform in [-1, 1], labels 0…2 round robin. */
function greyImages(n: number, side = 4, classes = 1): ArrayDataset {
  const next = uniformGenerator(7);
  return { x: Float32Array.from({ length: n * side * side }, () => 2 * next() - 1), shape: [n, side, side, 1], labels: Int32Array.from({ length: n }, (_, i) => i % classes) };
}

const FIXTURES: Record<string, ConformanceFixture> = {
  // Valid configs only, no lifecycle fixture (here, and evaluate, report and latent-dataset with `{}`): they read
  // IDX files, an imported LDM folder, latent shards or an evaluation's metrics, which no tiny fixture makes yet.
  'idx-dataset': { config: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' } },
  'ldm-class-embedder': { config: { model: 'models/imported-ldm' } },
  'ldm-first-stage': { config: { model: 'models/imported-ldm' } },
  'ldm-unet': { config: { model: 'models/imported-ldm', weights: 'runs/x/vfinetune/model.safetensors' } },
  // With tiny inputs: create → run → dispose, and cancel-and-resume for the training stages.
  'noise-schedule': { inputs: () => ({}) },
  'classifier': { config: { config: {} }, inputs: () => ({}) },
  'unet': { config: { config: TINY_UNET }, inputs: () => ({}) },
  'autoencoder': { config: { config: { channels: [4], latent_channels: 2 } }, inputs: () => ({}) },
  'ddim-sampling': {
    config: { latentShape: [4, 4, 2], steps: [2], classes: 2, samplesPerClass: 1 },
    inputs: () => {
      const model = tinyUNet();
      return { resources: { model, schedule: tinySchedule() }, dispose: () => model.dispose() };
    },
  },
  'teacher-training': { config: { iterations: 4, warmupSteps: 1, evalBatches: 0, logEvery: 0 }, inputs: stageInputs(), resumable: true },
  'guidance-distillation': { config: { iterations: 4, accumulation: 1, evalBatches: 0, logEvery: 0 }, inputs: stageInputs('v_prediction'), resumable: true },
  'progressive-distillation': {
    config: { baseSteps: 4, rounds: [{ steps: 2, iterations: 2 }, { steps: 1, iterations: 2 }], accumulation: 1, replay: { blockBatches: 0 }, evalBatches: 0, logEvery: 0 },
    inputs: stageInputs('v_prediction'),
    resumable: true,
  },
  'autoencoder-training': {
    config: { iterations: 4, warmupSteps: 1, evalBatches: 0, setScaleFactor: false, logEvery: 0 },
    inputs: () => {
      const model = new TinyAutoencoder(3);
      return { resources: { model }, streams: { batches: batchStream(greyImages(16), { batchSize: 4, seed: 1 }) }, dispose: () => model.dispose() };
    },
    resumable: true,
  },
  'classifier-training': {
    config: { iterations: 4, warmupSteps: 1, evalBatches: 0, logEvery: 0 },
    inputs: () => {
      const model = new TinyClassifier(4, 3, 5);
      return { resources: { model }, streams: { batches: batchStream(greyImages(16, 2, 3), { batchSize: 4, seed: 1 }) }, dispose: () => model.dispose() };
    },
    resumable: true,
  },
  'encode-latents': {
    config: { batchSize: 2, shardSize: 3 },
    inputs: () => {
      const autoencoder = new TinyAutoencoder(2);
      const data: DatasetResource = { kind: 'images', train: greyImages(7), test: greyImages(3), numClasses: 1 };
      return { resources: { data, autoencoder }, dispose: () => autoencoder.dispose() };
    },
  },
  'mnist-dataset': { config: { batchSize: 4, testSize: 8, maxBatches: 2 }, inputs: () => ({}) },
  'v-finetune': { config: { iterations: 4, accumulation: 1, evalBatches: 0, logEvery: 0 }, inputs: stageInputs(), resumable: true },
  'batch-statistics': {
    config: { maxBatches: 2 },
    inputs: () => ({ streams: { batches: batchStream(tinyLatents(16), { batchSize: 4, seed: 1 }) } }),
  },
};

/** The folder whose config.ts declares a definition's config schema (built-ins and plugins alike). */
function folderOf(def: NodeTypeDefinition): string {
  for (const folder of nodeFolders(root)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(folder, 'config.ts')) as { configSchema?: unknown };
    if (mod.configSchema === def.configSchema) return folder;
  }
  throw new Error(`no nodes/<folder>/config.ts or plugins/<folder>/config.ts declares the config schema of "${def.type}"`);
}

const all: Array<{ def: NodeTypeDefinition; source: string }> = [
  ...builtinNodeTypes.map((def) => ({ def, source: 'built-in' })),
  ...batchStatisticsPlugin.nodeTypes.map((def) => ({ def, source: 'plugin "batch-statistics"' })),
];

describe('node type conformance', () => {
  it('covers the 20 built-in types and the example plugin; each type\'s config schema is its folder\'s config.ts declaration', () => {
    assert.equal(builtinNodeTypes.length, 20);
    assert.deepEqual(batchStatisticsPlugin.nodeTypes.map((d) => d.type), ['batch-statistics']);
    for (const { def } of all) assert.ok(folderOf(def));
  });

  it('`distillery nodes` lists exactly the keys, defaults and descriptions of each declaration', () => {
    for (const { def, source } of all) {
      const info = describeNodeType(def, source);
      assert.equal(info.configSchema, def.configSchema);
      const props = def.configSchema.properties as Record<string, { default?: unknown; description?: string }>;
      assert.deepEqual(info.config.map((c) => c.key), Object.keys(props), def.type);
      for (const c of info.config) {
        assert.deepEqual(c.default, props[c.key].default, `${def.type}.${c.key}`);
        assert.equal(c.description, props[c.key].description, `${def.type}.${c.key}`);
      }
    }
  });

  it('a check fails with a located message when a schema.json is stale', async () => {
    const def = builtinNodeTypes.find((d) => d.type === 'report')!;
    const stale = { ...def, configSchema: { ...def.configSchema, description: 'changed' } };
    const docs = conformanceChecks(stale, {}, { folder: folderOf(def) }).find((c) => c.name.startsWith('docs'))!;
    await assert.rejects(docs.run(), /^ConformanceError: report: .*nodes\/report\/schema\.json is not the schema generated from config\.ts: run `npm run schemas`$/);
  });

  it('fails a node type that leaks a tensor, or whose schema has an undescribed key', async () => {
    const leaky = defineNodeType({
      type: 'leaky', description: 'Leaks one tensor.', inputs: {}, outputs: {},
      configSchema: NodeConfig('leaky node config', undefined, { n: Type.Integer({ default: 1 }) }),
      create: () => ({ run: async () => { tf.zeros([2]); } }),
    });
    const checks = conformanceChecks(leaky, { inputs: () => ({}) });
    await assert.rejects(checks.find((c) => c.name.startsWith('schema'))!.run(), /^ConformanceError: leaky: config schema: n: no description$/);
    await assert.rejects(checks.find((c) => c.name.startsWith('create'))!.run(), /^ConformanceError: leaky: 1 tensors leaked \(numTensors \d+ → \d+\)$/);
  });

  for (const { def } of all) describeConformance(def, FIXTURES[def.type] ?? {}, { folder: folderOf(def) });
});
