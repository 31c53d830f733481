/** `autoencoder` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { autoencoderConfigSchema } from '../../src/models/autoencoder';
import { modelSourceSchema } from '../../src/stage-engine/model-source';

/** The model's own config schema (src/models, shared with model files) under `config`. */
const { title: _t, ...rest } = autoencoderConfigSchema;
export const configSchema = modelSourceSchema('autoencoder node config', 'The small convolutional autoencoder (first stage)', rest);
