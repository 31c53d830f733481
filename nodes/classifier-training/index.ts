/**
 * `classifier-training`: trains the evaluator of the embedded default — a small image classifier whose
 * penultimate features define the FID space and whose predictions give the class accuracy of samples.
 * Softmax cross-entropy on real labelled images (no label dropout).
 */
import { MODEL_PORT_TYPE } from '../../src/stage-engine/node-support';
import { trainingStageInstance } from '../../src/stage-engine/stage-node';
import { defineNodeType } from '../../src/registry/types';
import { classifierAccuracy, classifierLoss, type TrainableClassifier } from './loss';
import { configSchema, type ClassifierTrainingConfig } from './config';
export type { ClassifierTrainingConfig } from './config';
import { batchStreamPort } from '../../src/registry/ports';

export const classifierTrainingNode = defineNodeType<ClassifierTrainingConfig>({
  type: 'classifier-training',
  description: 'Train the evaluation classifier (softmax cross-entropy) on labelled image batches',
  configSchema,
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
