/** `unet` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { unetConfigSchema } from '../../src/models/unet';
import { modelSourceSchema } from '../../src/stage-engine/model-source';

/** The model's own config schema (src/models, shared with model files) under `config`. */
const { $schema: _s, title: _t, ...rest } = unetConfigSchema as Record<string, unknown>;
export const configSchema = modelSourceSchema('unet node config', 'A class-conditional UNet (latent-diffusion names)', rest);
