/**
 * `v-finetune`: the seed's first step (spec 5.1): the same network is fine-tuned to predict
 * v = a_t·ε − s_t·x, loss MSE(v̂, v), t uniform, label dropout from the data node. Seed defaults:
 * lr 1e-5, AdamW, clip 1.0, EMA 0.995, 2000 steps, batch 60 × 2 accumulation.
 */
import { defineNodeType } from '../../src/registry/types';
import { MODEL_PORT_TYPE } from '../../src/stage-engine/node-support';
import { denoisingStageInstance, denoisingStageInputs } from '../../src/stage-engine/stage-node';
import { configSchema, type VFinetuneConfig } from './config';
export type { VFinetuneConfig } from './config';

export const vFinetuneNode = defineNodeType<VFinetuneConfig>({
  type: 'v-finetune',
  description: 'Fine-tune a denoiser to v-prediction (seed step 1: lr 1e-5, EMA 0.995, clip 1.0)',
  configSchema,
  inputs: denoisingStageInputs({
    model: 'The teacher (any prediction type); its weights are copied into a v-prediction model.',
    batches: 'Training batches (seed: label dropout 0.1).',
  }),
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
