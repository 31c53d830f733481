/** `mnist-dataset` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, Type, type Static } from '../../src/schema/typebox';
import { batchingSchemaProperties, validationSizeProperty } from '../../src/data/resource';

export const configSchema = NodeConfig('mnist-dataset node config', 'The 10,000 MNIST digits of the mnist package as a labelled image data set.', {
  padTo: Type.Integer({ minimum: 28, default: 32, description: 'Output size: the 28×28 digits are centred on a background of -1 (32 for the f4 autoencoder).' }),
  testSize: Type.Integer({ minimum: 0, default: 1000, description: 'Held-out test examples (the `data` resource\'s test part: the FID reference of evaluate; the evaluation losses too when there is no validation part). Never streamed.' }),
  validationSize: validationSizeProperty('the next validationSize digits of the seeded permutation after the test digits'),
  splitSeed: Type.Integer({ minimum: 0, default: 0, description: 'Seed of the train/held-out split; fixed so that every graph sees the same split.' }),
  ...batchingSchemaProperties({ batchSize: 64, nullClass: 10 }),
});

/** The resolved config (schema defaults filled in). */
export type MnistDatasetConfig = Static<typeof configSchema>;
