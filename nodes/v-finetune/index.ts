/**
 * `v-finetune`: the seed's first step (spec 5.1): the same network is fine-tuned to predict
 * v = a_t·ε − s_t·x, loss MSE(v̂, v), t uniform, label dropout from the data node. Seed defaults:
 * lr 1e-5, AdamW, clip 1.0, EMA 0.995, 2000 steps, batch 60 × 2 accumulation.
 */
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import { lossWeightingSchema, MIN_SNR_GAMMA_SCHEMA, MODEL_PORT_TYPE, NOISE_OFFSET_SCHEMA, stageSchemaProperties } from '../../src/stages/node-support';
import { denoisingStageInstance, VALIDATION_DECODER_PORT, type DenoisingStageNodeConfig } from '../../src/stages/stage-node';
import { validationSchema } from '../../src/stages/validation';
import schema from './schema.json';
import { batchStreamPort } from '../../src/registry/ports';

export type VFinetuneConfig = DenoisingStageNodeConfig;

export function vFinetuneConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'v-finetune node config',
    description: 'Fine-tuning a denoiser to v-prediction (the seed\'s first step). Defaults are the seed\'s hyper-parameters.',
    type: 'object',
    additionalProperties: false,
    properties: {
      ...stageSchemaProperties({ iterations: 2000, accumulation: 2, lr: 1e-5, emaDecay: 0.995, gradClip: 1 }),
      validation: validationSchema(),
      lossWeighting: lossWeightingSchema('target'),
      minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
      noiseOffset: NOISE_OFFSET_SCHEMA,
    },
  };
}

export const vFinetuneNode = defineNodeType<VFinetuneConfig>({
  type: 'v-finetune',
  description: 'Fine-tune a denoiser to v-prediction (seed step 1: lr 1e-5, EMA 0.995, clip 1.0)',
  configSchema: schema as JsonSchema,
  inputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The teacher (any prediction type); its weights are copied into a v-prediction model.' },
    schedule: { kind: 'resource', type: 'noise-schedule', description: 'The training noise schedule.' },
    batches: batchStreamPort('Training batches (seed: label dropout 0.1).'),
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out data for the evaluation loss (best checkpoint).' },
    autoencoder: VALIDATION_DECODER_PORT,
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The v-prediction model (EMA weights); resolves when done. Also written to model.safetensors.' },
  },
  create(ctx) {
    return denoisingStageInstance(ctx, {
      nodeType: 'v-finetune', stage: 'v-finetune', progressLabel: 'v-finetune',
      makeStudent: (model) => model.cloneWith({ prediction_type: 'v_prediction' }),
    });
  },
});
