/** `classifier-training` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, type Static } from '../../src/schema/typebox';
import { stageSchemaProperties } from '../../src/stage-engine/node-support';

export const configSchema = NodeConfig('classifier-training node config', 'Training the evaluation classifier on labelled images (softmax cross-entropy).',
  stageSchemaProperties({ lr: 2e-3, emaDecay: 0.99, gradClip: 1, lrSchedule: 'cosine', warmupSteps: 50 }));

/** The resolved config (schema defaults filled in). */
export type ClassifierTrainingConfig = Static<typeof configSchema>;
