/** `autoencoder`: the embedded default's first stage (src/models/autoencoder.ts). */
import { Autoencoder, type AutoencoderConfig } from '../../src/models/autoencoder';
import { modelSourceNode } from '../../src/stage-engine/model-source';
import { configSchema } from './config';


export const autoencoderNode = modelSourceNode('autoencoder', 'The small convolutional autoencoder (images ↔ latents, with a scale factor) from a config or a model file',
  'autoencoder', configSchema, (config, seed) => new Autoencoder(config as Partial<AutoencoderConfig>, { seed }),
  (m) => `autoencoder: ${m.numParameters} parameters, f = ${m.downsampleFactor}, ${m.config.latent_channels} latent channels, scale factor ${m.scaleFactor}`);
