/**
 * The conformance suite (src/testing/conformance.ts) over every built-in node type (nodes/index.ts) and
 * the example plugin. Every type gets the schema, docs, round-trip and located-problem checks; every type
 * also runs create → run → dispose on tiny inputs (no leaked tensors), and the training stages
 * cancel-and-resume. Fixtures use the tiny models of test/helpers/tiny.ts (a 4×4×2-latent UNet); the
 * types that read files (IDX pair, latent shards, an imported LDM folder) get them written once into a
 * temporary folder on first use (FILES below), removed after the suite.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
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
import { flatScorer, perturbWeights, tinyDataResource, tinyLatents, tinySchedule, tinyUNet } from '../helpers/tiny';
import { encodeIdxUint8 } from '../../src/io/idx';
import { writeLatentShard } from '../../src/io/shards';
import { importLdmCheckpoint } from '../../src/ldm/import';
import type { EvaluationMetrics } from '../../src/report/metrics';
import { TINY_CKPT, TINY_YAML } from '../ldm/helpers';

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

/** The files the file-reading fixtures use; configs name them by absolute path, `made` writes them once. */
const FILES = path.join(os.tmpdir(), `conformance-files-${process.pid}`);
const IDX_IMAGES = path.join(FILES, 'idx', 'train-images-idx3-ubyte.gz');
const IDX_LABELS = path.join(FILES, 'idx', 'train-labels-idx1-ubyte.gz');
const LATENT_SHARDS = { train: path.join(FILES, 'latents', 'train'), test: path.join(FILES, 'latents', 'test.safetensors'), numClasses: 3 };
const LDM_FOLDER = path.join(FILES, 'imported-ldm');

/** Runs `make` on the first call and returns the same promise after. */
function once(make: () => Promise<void>): () => Promise<void> {
  let made: Promise<void> | undefined;
  return () => (made ??= make());
}

const made = {
  /** 6 gzipped 4×4 uint8 images (image i all 40·i), labels 0…2 round robin. */
  idx: once(async () => {
    fs.mkdirSync(path.dirname(IDX_IMAGES), { recursive: true });
    const px = new Uint8Array(6 * 16);
    for (let i = 0; i < 6; i++) px.fill(40 * i, 16 * i, 16 * (i + 1));
    fs.writeFileSync(IDX_IMAGES, zlib.gzipSync(encodeIdxUint8([6, 4, 4], px)));
    fs.writeFileSync(IDX_LABELS, zlib.gzipSync(encodeIdxUint8([6], Uint8Array.from([0, 1, 2, 0, 1, 2]))));
  }),
  /** Two training shards (6 + 2 latents [4, 4, 2]) and a test shard (4), with the project's shard writer. */
  latents: once(async () => {
    await writeLatentShard(path.join(LATENT_SHARDS.train, 'a.safetensors'), tinyLatents(6, 1));
    await writeLatentShard(path.join(LATENT_SHARDS.train, 'b.safetensors'), tinyLatents(2, 2));
    await writeLatentShard(LATENT_SHARDS.test, tinyLatents(4, 3), { dtype: 'F32' });
  }),
  /** The tiny-cin checkpoint of test/fixtures/ldm-golden imported as `distillery import ldm` does. */
  ldm: once(async () => { await importLdmCheckpoint({ config: TINY_YAML, ckpt: TINY_CKPT, out: LDM_FOLDER }); }),
};

/** A small evaluation's numbers, as evaluate hands them to report. */
const TINY_METRICS: EvaluationMetrics = {
  title: 'tiny', createdAt: '2026-01-01T00:00:00.000Z', realFid: 0.5, realAccuracy: 0.9,
  cells: [
    { series: 'teacher (DDIM, g=2)', model: 'teacher-2', role: 'teacher', steps: 2, guidanceScale: 2, fid: 3, accuracy: 0.5, samples: 4 },
    { series: 'distilled student', model: 'student-1', role: 'student', steps: 1, guidanceScale: 1, fid: 4, accuracy: 0.25, samples: 4 },
  ],
};

const FIXTURES: Record<string, ConformanceFixture> = {
  // Every type has tiny inputs: create → run → dispose, and cancel-and-resume for the training stages.
  'idx-dataset': {
    config: { images: IDX_IMAGES, labels: IDX_LABELS, testSize: 2, numClasses: 3, nullClass: 3, batchSize: 2, padTo: 6 },
    inputs: async () => { await made.idx(); return {}; },
  },
  'latent-dataset': {
    config: { numClasses: 3, batchSize: 2 },
    inputs: async () => { await made.latents(); return { resources: { shards: LATENT_SHARDS } }; },
  },
  'ldm-class-embedder': { config: { model: LDM_FOLDER }, inputs: async () => { await made.ldm(); return {}; } },
  'ldm-first-stage': { config: { model: LDM_FOLDER }, inputs: async () => { await made.ldm(); return {}; } },
  'ldm-unet': { config: { model: LDM_FOLDER }, inputs: async () => { await made.ldm(); return {}; } },
  'evaluate': {
    config: { baseSteps: 2, teacherSteps: [2, 1], samplesPerClass: 2, classes: 2, batchSize: 4, gridColumns: 2, guidanceScale: 2 },
    inputs: () => {
      const teacher = perturbWeights(tinyUNet('v_prediction', 1));
      const student = perturbWeights(tinyUNet('v_prediction', 2), 9);
      return {
        resources: { schedule: tinySchedule('v_prediction'), classifier: flatScorer, data: tinyDataResource(), teacher, students: [{ steps: 1, model: student }] },
        dispose: () => { teacher.dispose(); student.dispose(); },
      };
    },
  },
  'report': { config: { title: 'Conformance', print: false, notes: { fixture: 'tiny' } }, inputs: () => ({ resources: { metrics: TINY_METRICS } }) },
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
  after(() => fs.rmSync(FILES, { recursive: true, force: true }));

  it('covers the 20 built-in types and the example plugin, each with tiny inputs; each type\'s config schema is its folder\'s config.ts declaration', () => {
    assert.equal(builtinNodeTypes.length, 20);
    assert.deepEqual(batchStatisticsPlugin.nodeTypes.map((d) => d.type), ['batch-statistics']);
    for (const { def } of all) assert.ok(folderOf(def));
    assert.deepEqual(all.filter(({ def }) => !FIXTURES[def.type]?.inputs).map(({ def }) => def.type), []);
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
