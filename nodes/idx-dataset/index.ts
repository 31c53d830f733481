/**
 * `idx-dataset`: a labelled image data set from IDX files (MNIST, Fashion-MNIST, …), with an optional
 * separate held-out pair of files, or a seeded held-out split of the training files.
 */
import { defineNodeType } from '../../src/registry/types';
import { loadIdxDataset } from '../../src/data/idx-dataset';
import { splitDataset } from '../../src/data/dataset';
import { batchStream } from '../../src/streams/batch-stream';
import { processGroupOf } from '../../src/distributed/context';
import { batchPlan, DATASET_PORT_TYPE, type DatasetResource } from '../../src/data/resource';
import type { Problem } from '../../src/errors';
import { configSchema, type IdxDatasetConfig } from './config';
export type { IdxDatasetConfig } from './config';
import { batchStreamPort } from '../../src/registry/ports';

export const idxDatasetNode = defineNodeType<IdxDatasetConfig>({
  type: 'idx-dataset',
  description: 'Labelled images from IDX files (MNIST / Fashion-MNIST format) as seeded shuffled batches',
  configSchema,
  inputs: {},
  outputs: {
    batches: batchStreamPort('Training batches {x: [B, H, W, C] in [-1, 1], labels: [B]}.'),
    data: { kind: 'resource', type: DATASET_PORT_TYPE, description: 'The split data set (training, test and, with validationSize, validation parts).' },
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
    let train;
    let test;
    let validation;
    if (c.testImages && c.testLabels) {
      test = loadIdxDataset({ images: c.testImages, labels: c.testLabels, ...(c.padTo ? { padTo: c.padTo } : {}), ...(c.testSize > 0 ? { limit: c.testSize } : {}) });
      ({ train, validation } = splitDataset(all, 0, c.splitSeed, c.validationSize));
    } else {
      ({ train, test, validation } = splitDataset(all, c.testSize, c.splitSeed, c.validationSize));
    }
    const data: DatasetResource = { kind: 'images', train, test, ...(validation ? { validation } : {}), numClasses: c.numClasses };
    ctx.log.info(`IDX data: ${train.shape[0]} training, ${validation ? `${validation.shape[0]} validation and ` : ''}${test.shape[0]} test images, [${train.shape.slice(1).join('×')}]`);
    return { resources: { data }, streams: { batches: batchStream(train, batchPlan(c, ctx.seed, processGroupOf(ctx.container)), ctx.signal) } };
  },
});
