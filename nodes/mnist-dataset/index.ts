/**
 * `mnist-dataset`: the embedded default data set — the 10,000 digits of the `mnist` package, padded to
 * 32×32 and scaled to [-1, 1], split once with a fixed seed into training and held-out examples.
 */
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import { loadMnistDigits } from '../../src/data/mnist';
import { splitDataset } from '../../src/data/dataset';
import { batchStream } from '../../src/data/stream';
import { processGroupOf } from '../../src/distributed/context';
import { batchingSchemaProperties, batchPlan, DATASET_PORT_TYPE, type BatchingConfig, type DatasetResource } from '../../src/data/resource';
import schema from './schema.json';
import { batchStreamPort } from '../../src/registry/ports';

export interface MnistDatasetConfig extends BatchingConfig {
  padTo: number;
  testSize: number;
  splitSeed: number;
}

export function mnistDatasetConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'mnist-dataset node config',
    description: 'The 10,000 MNIST digits of the mnist package as a labelled image data set.',
    type: 'object',
    additionalProperties: false,
    properties: {
      padTo: { type: 'integer', minimum: 28, default: 32, description: 'Output size: the 28×28 digits are centred on a background of -1 (32 for the f4 autoencoder).' },
      testSize: { type: 'integer', minimum: 0, default: 1000, description: 'Held-out examples (the `data` resource\'s test part: FID reference, evaluation losses). Never streamed.' },
      splitSeed: { type: 'integer', minimum: 0, default: 0, description: 'Seed of the train/held-out split; fixed so that every graph sees the same split.' },
      ...batchingSchemaProperties({ batchSize: 64, nullClass: 10 }),
    },
  };
}

export const mnistDatasetNode = defineNodeType<MnistDatasetConfig>({
  type: 'mnist-dataset',
  description: 'The embedded MNIST digits (mnist package), padded to 32×32 in [-1, 1], as seeded shuffled batches',
  configSchema: schema as JsonSchema,
  inputs: {},
  outputs: {
    batches: batchStreamPort('Training batches {x: [B, 32, 32, 1], labels: [B]}, endless unless epochs/maxBatches is set.'),
    data: { kind: 'resource', type: DATASET_PORT_TYPE, description: 'The split data set (train and held-out parts) as plain arrays.' },
  },
  create(ctx) {
    const c = ctx.config;
    const { train, test } = splitDataset(loadMnistDigits(c.padTo), c.testSize, c.splitSeed);
    const data: DatasetResource = { kind: 'images', train, test, numClasses: 10 };
    ctx.log.info(`MNIST: ${train.shape[0]} training and ${test.shape[0]} held-out digits, ${c.padTo}×${c.padTo}`);
    return {
      resources: { data },
      streams: { batches: batchStream(train, batchPlan(c, ctx.seed, processGroupOf(ctx.container)), ctx.signal) },
    };
  },
});
