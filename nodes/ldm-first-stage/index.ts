/**
 * `ldm-first-stage`: the VQ first stage of an imported latent-diffusion model with its scale factor
 * (images ↔ latents, src/ldm/first-stage.ts).
 */
import * as path from 'node:path';
import { defineNodeType } from '../../src/registry/types';
import { LdmFirstStage } from '../../src/ldm/first-stage';
import { type LdmModelNodeConfig } from '../../src/ldm/node-schema';
import { configSchema } from './config';

export const LDM_FIRST_STAGE_PORT_TYPE = 'ldm-first-stage';

export const ldmFirstStageNode = defineNodeType<LdmModelNodeConfig>({
  type: 'ldm-first-stage',
  description: 'The VQ first stage (images ↔ latents, with the scale factor) of a model imported with "distillery import ldm"',
  configSchema,
  inputs: {},
  outputs: {
    firstStage: { kind: 'resource', type: LDM_FIRST_STAGE_PORT_TYPE, description: 'An LdmFirstStage: encode(images NHWC in [−1, 1]) → scaled latents, decode(latents) → images.' },
  },
  async create(ctx) {
    const fs = await LdmFirstStage.load(path.resolve(ctx.config.model));
    ctx.log.info(`ldm-first-stage: ${fs.vq.numParameters} parameters, f = ${fs.vq.downsampleFactor}, ${fs.latentChannels} latent channels, scale factor ${fs.scaleFactor}`);
    return { resources: { firstStage: fs }, dispose: () => fs.dispose() };
  },
});
