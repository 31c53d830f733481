/** `encode-latents` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { Enum, NodeConfig, Type, type Static } from '../../src/schema/typebox';

export const configSchema = NodeConfig('encode-latents node config', 'Encoding an image data set into latent shards through a first stage.', {
  batchSize: Type.Integer({ minimum: 1, default: 250, description: 'Images encoded per call.' }),
  shardSize: Type.Integer({ minimum: 1, default: 10000, description: 'Latents per shard file.' }),
  dtype: Enum(['F16', 'F32'], { default: 'F32', description: 'On-disk dtype of the latents.' }),
});

/** The resolved config (schema defaults filled in). */
export type EncodeLatentsConfig = Static<typeof configSchema>;
