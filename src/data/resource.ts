/**
 * What data nodes hand to other nodes as their `data` resource, and the config keys every data node
 * shares (batching, shuffling, label dropout, budget, held-out split).
 */
import type { ArrayDataset, BatchPlanOptions } from './dataset';
import { Type } from '../schema/typebox';

/** A labelled data set split into a training part (streamed as batches) and a held-out part. */
export interface DatasetResource {
  /** `images` in [-1, 1] or first-stage `latents`. */
  kind: 'images' | 'latents';
  train: ArrayDataset;
  /** Held-out examples the final numbers are reported on (evaluate's default FID reference). */
  test: ArrayDataset;
  /**
   * Held-out examples for choices (guidance scale, checkpoint selection by evaluation loss, EMA decay): never
   * trained on and never in `test`, so a choice made on it does not tune the reported numbers. Absent when the
   * data node was given no validationSize / validation files.
   */
  validation?: ArrayDataset;
  /** Number of real classes (the null class of guidance training is not counted). */
  numClasses: number;
}

/** The held-out part the training stages' evaluation loss (and so checkpoint selection) uses: validation when there is one. */
export function choiceSplit(data: DatasetResource): { name: 'validation' | 'test'; data: ArrayDataset } {
  return data.validation && data.validation.shape[0] > 0 ? { name: 'validation', data: data.validation } : { name: 'test', data: data.test };
}

/** Config schema property (TypeBox) of the validation split size shared by the data nodes. */
export function validationSizeProperty(detail: string) {
  return Type.Integer({ minimum: 0, default: 0, description: `Validation examples, held out like the test part but separate from it (${detail}): the training stages' evaluation loss (checkpoint selection) and choices such as the guidance scale (evaluate with split: "validation") use them, so the test part is only reported on. 0: no validation part (the evaluation loss uses the test part).` });
}

/** Resource type name of DatasetResource ports. */
export const DATASET_PORT_TYPE = 'dataset';

export interface BatchingConfig {
  batchSize: number;
  shuffle: boolean;
  labelDropout: number;
  nullClass?: number;
  epochs?: number;
  maxBatches?: number;
  seed?: number;
}

/** Config schema properties (TypeBox) of BatchingConfig (shared by every data node's schema). */
export function batchingSchemaProperties(defaults: { batchSize: number; nullClass?: number }) {
  return {
    batchSize: Type.Integer({ minimum: 1, default: defaults.batchSize, description: 'Examples per batch (the last, smaller batch of an epoch is dropped).' }),
    shuffle: Type.Boolean({ default: true, description: 'Reshuffle the training examples every epoch (seeded).' }),
    labelDropout: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'Probability that a label is replaced by nullClass (classifier-free guidance training; the seed uses 0.1).' }),
    nullClass: Type.Optional(Type.Integer({ minimum: 0, ...(defaults.nullClass !== undefined ? { default: defaults.nullClass } : {}), description: 'Label of the unconditional class used by label dropout.' })),
    epochs: Type.Optional(Type.Integer({ minimum: 1, description: 'Stop the stream after this many epochs (default: endless; the consuming stage takes what it needs).' })),
    maxBatches: Type.Optional(Type.Integer({ minimum: 1, description: 'Stop the stream after this many batches.' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, description: 'Seed of the shuffle and of the label dropout (default: the node\'s seed, derived from the graph seed and the node id).' })),
  };
}

/** The batch plan a data node's config describes (`shard`: this process's part of a data-parallel run). */
export function batchPlan(config: BatchingConfig, nodeSeed: number, shard?: { rank: number; worldSize: number }): BatchPlanOptions {
  return {
    ...(shard && shard.worldSize > 1 ? { shard } : {}),
    batchSize: config.batchSize,
    seed: config.seed ?? nodeSeed,
    shuffle: config.shuffle,
    labelDropout: config.labelDropout,
    ...(config.nullClass !== undefined ? { nullClass: config.nullClass } : {}),
    ...(config.epochs !== undefined ? { epochs: config.epochs } : {}),
    ...(config.maxBatches !== undefined ? { maxBatches: config.maxBatches } : {}),
  };
}
