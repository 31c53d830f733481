/** `teacher-training` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, type Static } from '../../src/schema/typebox';
import { MIN_SNR_GAMMA_SCHEMA, NOISE_OFFSET_SCHEMA, lossWeightingSchema, stageSchemaProperties } from '../../src/stage-engine/node-support';
import { validationSchema } from '../../src/stage-engine/validation';

export const configSchema = NodeConfig('teacher-training node config', 'Training a class-conditional diffusion model on its own target (ε for epsilon models).', {
  ...stageSchemaProperties({ lr: 1e-3, emaDecay: 0.999, lrSchedule: 'cosine', warmupSteps: 100 }),
  validation: validationSchema(),
  lossWeighting: lossWeightingSchema('target'),
  minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
  noiseOffset: NOISE_OFFSET_SCHEMA,
});

/** The resolved config (schema defaults filled in). */
export type TeacherTrainingConfig = Static<typeof configSchema>;
