/**
 * `classifier-training`: trains the evaluator of the embedded default — a small image classifier whose
 * penultimate features define the FID space and whose predictions give the class accuracy of samples.
 * Softmax cross-entropy on real labelled images (no label dropout).
 */
import { MODEL_PORT_TYPE, stageSchemaProperties, type StageNodeCommonConfig } from '../../src/stages/node-support';
import { trainingStageInstance } from '../../src/stages/stage-node';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import { classifierAccuracy, classifierLoss, type TrainableClassifier } from '../../src/stages/supervised';
import schema from './schema.json';
import { batchStreamPort } from '../../src/registry/ports';

export type ClassifierTrainingConfig = StageNodeCommonConfig;

export function classifierTrainingConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'classifier-training node config',
    description: 'Training the evaluation classifier on labelled images (softmax cross-entropy).',
    type: 'object',
    additionalProperties: false,
    required: ['iterations'],
    properties: stageSchemaProperties({ lr: 2e-3, emaDecay: 0.99, gradClip: 1, lrSchedule: 'cosine', warmupSteps: 50 }),
  };
}

export const classifierTrainingNode = defineNodeType<ClassifierTrainingConfig>({
  type: 'classifier-training',
  description: 'Train the evaluation classifier (softmax cross-entropy) on labelled image batches',
  configSchema: schema as JsonSchema,
  inputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The classifier to start from (logits/features; copied, not changed).' },
    batches: batchStreamPort('Labelled image batches (no label dropout).'),
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out images: evaluation loss and the final accuracy.' },
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The trained classifier (EMA weights); also written to model.safetensors.' },
  },
  create(ctx) {
    return trainingStageInstance<TrainableClassifier>(ctx, {
      nodeType: 'classifier-training', stage: 'classifier', progressLabel: 'classifier',
      makeStudent: (model) => model.clone(),
      lossFor: (student) => classifierLoss(student),
      async afterTraining(trained, data, metadata) {
        const acc = await classifierAccuracy(trained, data.test);
        ctx.log.info(`held-out accuracy ${(acc * 100).toFixed(2)}% (${data.test.shape[0]} images)`);
        metadata.heldOutAccuracy = String(acc);
      },
    });
  },
});
