/**
 * `idx-dataset`: a labelled image data set from IDX files (MNIST, Fashion-MNIST, …), with an optional
 * separate held-out pair of files, or a seeded held-out split of the training files.
 */
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import { loadIdxDataset } from '../../src/data/idx-dataset';
import { splitDataset } from '../../src/data/dataset';
import { batchStream } from '../../src/data/stream';
import { processGroupOf } from '../../src/distributed/context';
import { batchingSchemaProperties, batchPlan, DATASET_PORT_TYPE, type BatchingConfig, type DatasetResource } from '../../src/data/resource';
import type { Problem } from '../../src/errors';
import schema from './schema.json';
import { batchStreamPort } from '../../src/registry/ports';

export interface IdxDatasetConfig extends BatchingConfig {
  images: string;
  labels: string;
  testImages?: string;
  testLabels?: string;
  testSize: number;
  splitSeed: number;
  padTo?: number;
  limit?: number;
  numClasses: number;
}

export function idxDatasetConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'idx-dataset node config',
    description: 'A labelled image data set from IDX files (uint8 images [N, H, W] or [N, H, W, C], labels [N]; *.gz is gunzipped).',
    type: 'object',
    additionalProperties: false,
    required: ['images', 'labels'],
    properties: {
      images: { type: 'string', minLength: 1, description: 'IDX file of the training images (e.g. train-images-idx3-ubyte.gz).' },
      labels: { type: 'string', minLength: 1, description: 'IDX file of the training labels.' },
      testImages: { type: 'string', minLength: 1, description: 'IDX file of held-out images; with testLabels it replaces the seeded split.' },
      testLabels: { type: 'string', minLength: 1, description: 'IDX file of held-out labels.' },
      testSize: { type: 'integer', minimum: 0, default: 1000, description: 'Held-out examples split from the training files when no test files are given; with test files, at most this many are kept (0 keeps all).' },
      splitSeed: { type: 'integer', minimum: 0, default: 0, description: 'Seed of the train/held-out split.' },
      padTo: { type: 'integer', minimum: 1, description: 'Pad images to this size, centred on -1 (default: keep their size).' },
      limit: { type: 'integer', minimum: 1, description: 'Use only the first `limit` training examples.' },
      numClasses: { type: 'integer', minimum: 1, default: 10, description: 'Number of real classes.' },
      ...batchingSchemaProperties({ batchSize: 64, nullClass: 10 }),
    },
  };
}

export const idxDatasetNode = defineNodeType<IdxDatasetConfig>({
  type: 'idx-dataset',
  description: 'Labelled images from IDX files (MNIST / Fashion-MNIST format) as seeded shuffled batches',
  configSchema: schema as JsonSchema,
  inputs: {},
  outputs: {
    batches: batchStreamPort('Training batches {x: [B, H, W, C] in [-1, 1], labels: [B]}.'),
    data: { kind: 'resource', type: DATASET_PORT_TYPE, description: 'The split data set (train and held-out parts).' },
  },
  check(config) {
    const problems: Problem[] = [];
    if ((config.testImages === undefined) !== (config.testLabels === undefined)) {
      problems.push({ path: config.testImages === undefined ? 'testImages' : 'testLabels', message: 'testImages and testLabels go together', hint: 'give both or neither' });
    }
    return problems;
  },
  create(ctx) {
    const c = ctx.config;
    const all = loadIdxDataset({ images: c.images, labels: c.labels, ...(c.padTo ? { padTo: c.padTo } : {}), ...(c.limit ? { limit: c.limit } : {}) });
    let train = all;
    let test;
    if (c.testImages && c.testLabels) {
      test = loadIdxDataset({ images: c.testImages, labels: c.testLabels, ...(c.padTo ? { padTo: c.padTo } : {}), ...(c.testSize > 0 ? { limit: c.testSize } : {}) });
    } else {
      ({ train, test } = splitDataset(all, c.testSize, c.splitSeed));
    }
    const data: DatasetResource = { kind: 'images', train, test, numClasses: c.numClasses };
    ctx.log.info(`IDX data: ${train.shape[0]} training and ${test.shape[0]} held-out images, [${train.shape.slice(1).join('×')}]`);
    return { resources: { data }, streams: { batches: batchStream(train, batchPlan(c, ctx.seed, processGroupOf(ctx.container)), ctx.signal) } };
  },
});
