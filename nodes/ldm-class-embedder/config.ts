/** `ldm-class-embedder` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { ldmModelNodeConfigSchema } from '../../src/ldm/node-schema';

export const configSchema = ldmModelNodeConfigSchema('ldm-class-embedder node config', 'The class embedder (cross-attention context of the labels) of an imported latent-diffusion model');
