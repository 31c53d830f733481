/**
 * The `batch-statistics` config, written once (TypeBox): `npm run schemas` generates schema.json (for
 * editors) and the README's config table from it, and the type below is what `ctx.config` holds.
 */
import { NodeConfig, Type, type Static } from 'distillery';

export const configSchema = NodeConfig('batch-statistics node config', 'Per-channel statistics of the first maxBatches batches of a stream.', {
  maxBatches: Type.Integer({ minimum: 1, default: 100, description: 'Batches to read from the stream (data streams are often endless). The statistics cover exactly these batches.' }),
  file: Type.String({ pattern: '^[A-Za-z0-9._-]+\\.json$', default: 'statistics.json', description: 'Name of the JSON file written into the node\'s folder of the run (a plain file name ending in .json).' }),
  logEvery: Type.Integer({ minimum: 1, default: 10, description: 'Log the running overall mean and std as metrics every this many batches.' }),
});

/** The resolved config (schema defaults filled in). */
export type BatchStatisticsConfig = Static<typeof configSchema>;
