/**
 * `latent-dataset`: latents and labels from safetensors shards (`latents` [N, C, H, W] F16/F32,
 * `labels` [N]) — the format users bring (e.g. ImageNet encoded by a first stage) and the one
 * `encode-latents` writes. NCHW on disk, NHWC in memory.
 */
import { defineNodeType } from '../../src/registry/types';
import { readLatentShards } from '../../src/io/shards';
import { splitDataset } from '../../src/data/dataset';
import { batchStream } from '../../src/streams/batch-stream';
import { processGroupOf } from '../../src/distributed/context';
import { batchPlan, DATASET_PORT_TYPE, type DatasetResource } from '../../src/data/resource';
import { ConfigError } from '../../src/errors';
import { configSchema, type LatentDatasetConfig } from './config';
export type { LatentDatasetConfig } from './config';
import { batchStreamPort } from '../../src/registry/ports';

/** What `encode-latents` hands over: the folders of the shards it wrote. */
export interface LatentShardsResource {
  train: string;
  test: string;
  /** Present when the encoded data set had a validation part. */
  validation?: string;
  numClasses: number;
}

export const LATENT_SHARDS_PORT_TYPE = 'latent-shards';

export const latentDatasetNode = defineNodeType<LatentDatasetConfig>({
  type: 'latent-dataset',
  description: 'Latents and labels from safetensors shards (NCHW on disk) as seeded shuffled batches',
  configSchema,
  inputs: {
    shards: { kind: 'resource', type: LATENT_SHARDS_PORT_TYPE, optional: true, description: 'Shard folders written by encode-latents (instead of path / testPath).' },
  },
  outputs: {
    batches: batchStreamPort('Training batches {x: [B, H, W, C] latents, labels: [B]}.'),
    data: { kind: 'resource', type: DATASET_PORT_TYPE, description: 'The split latent data set (training, test and, when given or split off, validation parts).' },
  },
  async create(ctx) {
    const c = ctx.config;
    const shards = ctx.resources.shards as LatentShardsResource | undefined;
    const trainPath = shards?.train ?? c.path;
    const testPath = shards?.test ?? c.testPath;
    if (!trainPath) {
      throw new ConfigError(`latent-dataset "${ctx.id}"`, [{ path: 'path', message: 'no training shards: set path or connect the shards input' }]);
    }
    const validationPath = shards?.validation ?? c.validationPath;
    const all = await readLatentShards(trainPath, c.limit);
    let train = all;
    let test;
    let validation;
    // Split off the training shards what no shard folder provides: the test part, then the validation part.
    const splitValidation = validationPath ? 0 : c.validationSize;
    if (testPath) {
      test = await readLatentShards(testPath, c.testSize > 0 ? c.testSize : undefined);
      if (splitValidation > 0) ({ train, validation } = splitDataset(all, 0, c.splitSeed, splitValidation));
    } else {
      ({ train, test, validation } = splitDataset(all, c.testSize, c.splitSeed, splitValidation));
    }
    if (validationPath) validation = await readLatentShards(validationPath, c.validationSize > 0 ? c.validationSize : undefined);
    const data: DatasetResource = { kind: 'latents', train, test, ...(validation ? { validation } : {}), numClasses: shards?.numClasses ?? c.numClasses };
    ctx.log.info(`latents: ${train.shape[0]} training, ${validation ? `${validation.shape[0]} validation and ` : ''}${test.shape[0]} test, [${train.shape.slice(1).join('×')}] (HWC)`);
    return { resources: { data }, streams: { batches: batchStream(train, batchPlan(c, ctx.seed, processGroupOf(ctx.container)), ctx.signal) } };
  },
});
