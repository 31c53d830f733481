/**
 * `teacher-training`: trains a class-conditional denoiser from its initial weights on data batches
 * (spec 5.0): t uniform, ε ~ N(0, I), the model's own target (ε for an epsilon model), label dropout
 * done by the data node (0.1 for guidance). Outputs the EMA weights as a new model when done.
 */
import { defineNodeType } from '../../src/registry/types';
import { MODEL_PORT_TYPE } from '../../src/stage-engine/node-support';
import { denoisingStageInstance, denoisingStageInputs } from '../../src/stage-engine/stage-node';
import { configSchema, type TeacherTrainingConfig } from './config';
export type { TeacherTrainingConfig } from './config';

export const teacherTrainingNode = defineNodeType<TeacherTrainingConfig>({
  type: 'teacher-training',
  description: 'Train a class-conditional diffusion model (the epsilon teacher) on batches of latents',
  configSchema,
  inputs: denoisingStageInputs({
    model: 'The denoiser to start from (its weights are copied, not changed).',
    batches: 'Training batches (labels already dropped to the null class where wanted).',
  }),
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The trained model (EMA weights); resolves when training ends. Also written to model.safetensors.' },
  },
  create(ctx) {
    return denoisingStageInstance(ctx, {
      nodeType: 'teacher-training', stage: 'teacher', progressLabel: 'train',
      makeStudent: (model) => model.clone(),
    });
  },
});
