/**
 * `latent-dataset`: latents and labels from safetensors shards (`latents` [N, C, H, W] F16/F32,
 * `labels` [N]) — the format users bring (e.g. ImageNet encoded by a first stage) and the one
 * `encode-latents` writes. NCHW on disk, NHWC in memory.
 */
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import { readLatentShards } from '../../src/io/shards';
import { splitDataset } from '../../src/data/dataset';
import { batchStream } from '../../src/data/stream';
import { processGroupOf } from '../../src/distributed/context';
import { batchingSchemaProperties, batchPlan, DATASET_PORT_TYPE, type BatchingConfig, type DatasetResource } from '../../src/data/resource';
import { ConfigError } from '../../src/errors';
import schema from './schema.json';
import { batchStreamPort } from '../../src/registry/ports';

/** What `encode-latents` hands over: the folders of the shards it wrote. */
export interface LatentShardsResource {
  train: string;
  test: string;
  numClasses: number;
}

export const LATENT_SHARDS_PORT_TYPE = 'latent-shards';

export interface LatentDatasetConfig extends BatchingConfig {
  path?: string;
  testPath?: string;
  testSize: number;
  splitSeed: number;
  limit?: number;
  numClasses: number;
}

export function latentDatasetConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'latent-dataset node config',
    description: 'Latent shards (safetensors with `latents` [N, C, H, W] F16/F32 and `labels` [N]) as a labelled data set.',
    type: 'object',
    additionalProperties: false,
    properties: {
      path: { type: 'string', minLength: 1, description: 'A shard file, or a folder whose *.safetensors files (sorted by name) are the training shards. Not needed when the `shards` input is connected.' },
      testPath: { type: 'string', minLength: 1, description: 'Shard file or folder of held-out latents; without it, testSize examples are split off the training shards.' },
      testSize: { type: 'integer', minimum: 0, default: 1000, description: 'Held-out examples split off when there is no testPath (with testPath: at most this many are kept, 0 keeps all).' },
      splitSeed: { type: 'integer', minimum: 0, default: 0, description: 'Seed of the train/held-out split.' },
      limit: { type: 'integer', minimum: 1, description: 'Read at most this many training latents.' },
      numClasses: { type: 'integer', minimum: 1, default: 10, description: 'Number of real classes (1000 for ImageNet).' },
      ...batchingSchemaProperties({ batchSize: 64 }),
    },
  };
}

export const latentDatasetNode = defineNodeType<LatentDatasetConfig>({
  type: 'latent-dataset',
  description: 'Latents and labels from safetensors shards (NCHW on disk) as seeded shuffled batches',
  configSchema: schema as JsonSchema,
  inputs: {
    shards: { kind: 'resource', type: LATENT_SHARDS_PORT_TYPE, optional: true, description: 'Shard folders written by encode-latents (instead of path / testPath).' },
  },
  outputs: {
    batches: batchStreamPort('Training batches {x: [B, H, W, C] latents, labels: [B]}.'),
    data: { kind: 'resource', type: DATASET_PORT_TYPE, description: 'The split latent data set (train and held-out parts).' },
  },
  async create(ctx) {
    const c = ctx.config;
    const shards = ctx.resources.shards as LatentShardsResource | undefined;
    const trainPath = shards?.train ?? c.path;
    const testPath = shards?.test ?? c.testPath;
    if (!trainPath) {
      throw new ConfigError(`latent-dataset "${ctx.id}"`, [{ path: 'path', message: 'no training shards: set path or connect the shards input' }]);
    }
    const all = await readLatentShards(trainPath, c.limit);
    let train = all;
    let test;
    if (testPath) test = await readLatentShards(testPath, c.testSize > 0 ? c.testSize : undefined);
    else ({ train, test } = splitDataset(all, c.testSize, c.splitSeed));
    const data: DatasetResource = { kind: 'latents', train, test, numClasses: shards?.numClasses ?? c.numClasses };
    ctx.log.info(`latents: ${train.shape[0]} training and ${test.shape[0]} held-out, [${train.shape.slice(1).join('×')}] (HWC)`);
    return { resources: { data }, streams: { batches: batchStream(train, batchPlan(c, ctx.seed, processGroupOf(ctx.container)), ctx.signal) } };
  },
});
