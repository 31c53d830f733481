/** `unet`: a class-conditional UNet (src/models/unet.ts) from a config or a stage's model file. */
import type { JsonSchema } from '../../src/registry/types';
import { UNet, unetConfigSchema, type UNetConfigInput } from '../../src/models/unet';
import { modelSourceNode, modelSourceSchema } from '../../src/stage-engine/model-source';
import schema from './schema.json';

export function unetNodeConfigSchema(): JsonSchema {
  const { $schema: _s, title: _t, ...rest } = unetConfigSchema as Record<string, unknown>;
  return modelSourceSchema('unet node config', 'A class-conditional UNet (latent-diffusion names)', rest);
}

export const unetNode = modelSourceNode('unet', 'A class-conditional UNet from a config, or from a model.safetensors written by a training stage',
  'UNet', schema as JsonSchema, (config, seed) => new UNet(config as unknown as UNetConfigInput, { seed }),
  (m) => `unet: ${m.numParameters} parameters, ${m.predictionType}, ${m.numClasses} label embeddings (null class ${m.nullClass})`);
