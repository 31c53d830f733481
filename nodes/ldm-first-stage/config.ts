/** `ldm-first-stage` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { ldmModelNodeConfigSchema } from '../../src/ldm/node-schema';

export const configSchema = ldmModelNodeConfigSchema('ldm-first-stage node config', 'The VQ first stage (encoder, quantiser, decoder) and latent scale factor of an imported latent-diffusion model');
