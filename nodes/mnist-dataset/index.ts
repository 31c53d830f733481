/**
 * `mnist-dataset`: the embedded default data set — the 10,000 digits of the `mnist` package, padded to
 * 32×32 and scaled to [-1, 1], split once with a fixed seed into training and held-out examples.
 */
import { defineNodeType } from '../../src/registry/types';
import { loadMnistDigits } from '../../src/data/mnist';
import { splitDataset } from '../../src/data/dataset';
import { batchStream } from '../../src/streams/batch-stream';
import { processGroupOf } from '../../src/distributed/context';
import { batchPlan, DATASET_PORT_TYPE, type DatasetResource } from '../../src/data/resource';
import { configSchema, type MnistDatasetConfig } from './config';
export type { MnistDatasetConfig } from './config';
import { batchStreamPort } from '../../src/registry/ports';

export const mnistDatasetNode = defineNodeType<MnistDatasetConfig>({
  type: 'mnist-dataset',
  description: 'The embedded MNIST digits (mnist package), padded to 32×32 in [-1, 1], as seeded shuffled batches',
  configSchema,
  inputs: {},
  outputs: {
    batches: batchStreamPort('Training batches {x: [B, 32, 32, 1], labels: [B]}, endless unless epochs/maxBatches is set.'),
    data: { kind: 'resource', type: DATASET_PORT_TYPE, description: 'The split data set (training, test and, with validationSize, validation parts) as plain arrays.' },
  },
  create(ctx) {
    const c = ctx.config;
    const { train, test, validation } = splitDataset(loadMnistDigits(c.padTo), c.testSize, c.splitSeed, c.validationSize);
    const data: DatasetResource = { kind: 'images', train, test, ...(validation ? { validation } : {}), numClasses: 10 };
    ctx.log.info(`MNIST: ${train.shape[0]} training, ${validation ? `${validation.shape[0]} validation and ` : ''}${test.shape[0]} test digits, ${c.padTo}×${c.padTo}`);
    return {
      resources: { data },
      streams: { batches: batchStream(train, batchPlan(c, ctx.seed, processGroupOf(ctx.container)), ctx.signal) },
    };
  },
});
