/** `autoencoder-training` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, Type, type Static } from '../../src/schema/typebox';
import { stageSchemaProperties } from '../../src/stage-engine/node-support';

export const configSchema = NodeConfig('autoencoder-training node config', 'Training a first-stage autoencoder on image batches (reconstruction MSE + latent L2 penalty).', {
  latentPenalty: Type.Number({ minimum: 0, default: 1e-4, description: 'Weight of the mean squared latent added to the reconstruction MSE.' }),
  setScaleFactor: Type.Boolean({ default: true, description: 'After training, set the model\'s latent scale factor (if it has one) so that held-out latents have unit standard deviation (needs the data input).' }),
  ...stageSchemaProperties({ lr: 2e-3, emaDecay: 0.99, gradClip: 1, lrSchedule: 'cosine', warmupSteps: 50 }),
});

/** The resolved config (schema defaults filled in). */
export type AutoencoderTrainingConfig = Static<typeof configSchema>;
