/** `unet`: a class-conditional UNet (src/models/unet.ts) from a config or a stage's model file. */
import { UNet, type UNetConfigInput } from '../../src/models/unet';
import { modelSourceNode } from '../../src/stage-engine/model-source';
import { configSchema } from './config';


export const unetNode = modelSourceNode('unet', 'A class-conditional UNet from a config, or from a model.safetensors written by a training stage',
  'UNet', configSchema, (config, seed) => new UNet(config as unknown as UNetConfigInput, { seed }),
  (m) => `unet: ${m.numParameters} parameters, ${m.predictionType}, ${m.numClasses} label embeddings (null class ${m.nullClass})`);
