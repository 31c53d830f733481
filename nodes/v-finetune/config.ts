/** `v-finetune` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, type Static } from '../../src/schema/typebox';
import { MIN_SNR_GAMMA_SCHEMA, NOISE_OFFSET_SCHEMA, lossWeightingSchema, stageSchemaProperties } from '../../src/stage-engine/node-support';
import { validationSchema } from '../../src/stage-engine/validation';

export const configSchema = NodeConfig('v-finetune node config', 'Fine-tuning a denoiser to v-prediction (the seed\'s first step). Defaults are the seed\'s hyper-parameters.', {
  ...stageSchemaProperties({ iterations: 2000, accumulation: 2, lr: 1e-5, emaDecay: 0.995, gradClip: 1 }),
  validation: validationSchema(),
  lossWeighting: lossWeightingSchema('target'),
  minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
  noiseOffset: NOISE_OFFSET_SCHEMA,
});

/** The resolved config (schema defaults filled in). */
export type VFinetuneConfig = Static<typeof configSchema>;
