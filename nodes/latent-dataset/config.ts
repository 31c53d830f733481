/** `latent-dataset` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, Type, type Static } from '../../src/schema/typebox';
import { batchingSchemaProperties, validationSizeProperty } from '../../src/data/resource';

export const configSchema = NodeConfig('latent-dataset node config', 'Latent shards (safetensors with `latents` [N, C, H, W] F16/F32 and `labels` [N]) as a labelled data set.', {
  path: Type.Optional(Type.String({ minLength: 1, description: 'A shard file, or a folder whose *.safetensors files (sorted by name) are the training shards. Not needed when the `shards` input is connected.' })),
  testPath: Type.Optional(Type.String({ minLength: 1, description: 'Shard file or folder of held-out latents; without it, testSize examples are split off the training shards.' })),
  testSize: Type.Integer({ minimum: 0, default: 1000, description: 'Held-out examples split off when there is no testPath (with testPath: at most this many are kept, 0 keeps all).' }),
  validationPath: Type.Optional(Type.String({ minLength: 1, description: 'Shard file or folder of validation latents (encode-latents writes one when its data has a validation part); without it, validationSize examples are split off the training shards.' })),
  validationSize: validationSizeProperty('split off the training shards with splitSeed when there is no validationPath or validation shards input; with them, at most this many are kept, 0 keeps all'),
  splitSeed: Type.Integer({ minimum: 0, default: 0, description: 'Seed of the train/held-out split.' }),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: 'Read at most this many training latents.' })),
  numClasses: Type.Integer({ minimum: 1, default: 10, description: 'Number of real classes (1000 for ImageNet).' }),
  ...batchingSchemaProperties({ batchSize: 64 }),
});

/** The resolved config (schema defaults filled in). */
export type LatentDatasetConfig = Static<typeof configSchema>;
