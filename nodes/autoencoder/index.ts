/** `autoencoder`: the embedded default's first stage (src/models/autoencoder.ts). */
import type { JsonSchema } from '../../src/registry/types';
import { Autoencoder, autoencoderConfigSchema, type AutoencoderConfig } from '../../src/models/autoencoder';
import { modelSourceNode, modelSourceSchema } from '../../src/stage-engine/model-source';
import schema from './schema.json';

export function autoencoderNodeConfigSchema(): JsonSchema {
  const { title: _t, ...rest } = autoencoderConfigSchema;
  return modelSourceSchema('autoencoder node config', 'The small convolutional autoencoder (first stage)', rest);
}

export const autoencoderNode = modelSourceNode('autoencoder', 'The small convolutional autoencoder (images ↔ latents, with a scale factor) from a config or a model file',
  'autoencoder', schema as JsonSchema, (config, seed) => new Autoencoder(config as Partial<AutoencoderConfig>, { seed }),
  (m) => `autoencoder: ${m.numParameters} parameters, f = ${m.downsampleFactor}, ${m.config.latent_channels} latent channels, scale factor ${m.scaleFactor}`);
