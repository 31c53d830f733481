/** `ldm-unet` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { ldmModelNodeConfigSchema } from '../../src/ldm/node-schema';
import { Type, type Static } from '../../src/schema/typebox';

export const configSchema = ldmModelNodeConfigSchema('ldm-unet node config', 'The class-conditional UNet and the noise schedule of an imported latent-diffusion model', {
  weights: Type.Optional(Type.String({
    minLength: 1,
    description: 'Instead of the imported UNet, the model.safetensors a training stage wrote for it (e.g. <run>/vfinetune/model.safetensors): its config (prediction type, guidance embedding) and weights are used; the folder still gives the schedule. Relative paths are resolved from the working directory.',
  })),
});

/** The resolved config: the folder, and optionally the weights of a later training stage. */
export type LdmUNetNodeConfig = Static<typeof configSchema>;
