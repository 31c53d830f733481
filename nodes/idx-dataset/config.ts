/** `idx-dataset` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, Type, type Static } from '../../src/schema/typebox';
import { batchingSchemaProperties, validationSizeProperty } from '../../src/data/resource';

export const configSchema = NodeConfig('idx-dataset node config', 'A labelled image data set from IDX files (uint8 images [N, H, W] or [N, H, W, C], labels [N]; *.gz is gunzipped).', {
  images: Type.String({ minLength: 1, description: 'IDX file of the training images (e.g. train-images-idx3-ubyte.gz).' }),
  labels: Type.String({ minLength: 1, description: 'IDX file of the training labels.' }),
  testImages: Type.Optional(Type.String({ minLength: 1, description: 'IDX file of held-out images; with testLabels it replaces the seeded split.' })),
  testLabels: Type.Optional(Type.String({ minLength: 1, description: 'IDX file of held-out labels.' })),
  testSize: Type.Integer({ minimum: 0, default: 1000, description: 'Held-out examples split from the training files when no test files are given; with test files, at most this many are kept (0 keeps all).' }),
  validationSize: validationSizeProperty('split off the training files with splitSeed, after the test examples when those are split off too'),
  splitSeed: Type.Integer({ minimum: 0, default: 0, description: 'Seed of the train/held-out split.' }),
  padTo: Type.Optional(Type.Integer({ minimum: 1, description: 'Pad images to this size, centred on -1 (default: keep their size).' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: 'Use only the first `limit` training examples.' })),
  numClasses: Type.Integer({ minimum: 1, default: 10, description: 'Number of real classes.' }),
  ...batchingSchemaProperties({ batchSize: 64, nullClass: 10 }),
});

/** The resolved config (schema defaults filled in). */
export type IdxDatasetConfig = Static<typeof configSchema>;
