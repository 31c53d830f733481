/**
 * `ldm-unet`: the UNet of an imported latent-diffusion model (with its class embedder as the
 * cross-attention context) and the model's noise schedule.
 */
import * as path from 'node:path';
import { defineNodeType } from '../../src/registry/types';
import { loadLdmSchedule, loadLdmUNet, readLdmModelFile } from '../../src/ldm/model-folder';
import { loadStageUNet } from './stage-unet';
import { MODEL_PORT_TYPE } from '../../src/stage-engine/node-support';
import { configSchema, type LdmUNetNodeConfig } from './config';
export type { LdmUNetNodeConfig } from './config';

export const ldmUNetNode = defineNodeType<LdmUNetNodeConfig>({
  type: 'ldm-unet',
  description: 'The UNet (ε-prediction, class context from its embedder) and noise schedule of a model imported with "distillery import ldm"',
  configSchema,
  inputs: {},
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The UNet with the imported weights (a trainable conditional denoiser; stages copy it, never change it).' },
    schedule: { kind: 'resource', type: 'noise-schedule', description: 'The model\'s noise schedule (scheduler_config.json of the folder).' },
  },
  async create(ctx) {
    const dir = path.resolve(ctx.config.model);
    const m = readLdmModelFile(dir);
    const unet = ctx.config.weights !== undefined ? await loadStageUNet(path.resolve(ctx.config.weights)) : await loadLdmUNet(dir, m);
    const schedule = loadLdmSchedule(dir, m);
    const source = ctx.config.weights !== undefined
      ? path.basename(ctx.config.weights)
      : `${m.source.weights === 'ema' ? 'EMA' : 'non-EMA'} weights of ${path.basename(m.source.checkpoint)}`;
    ctx.log.info(`ldm-unet: ${unet.numParameters} parameters (${source}, ${unet.predictionType}), latent [${m.latentShape.join(', ')}]`);
    return { resources: { model: unet, schedule }, dispose: () => unet.dispose() };
  },
});
