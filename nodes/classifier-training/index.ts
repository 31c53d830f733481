/**
 * `classifier-training`: trains the evaluator of the embedded default — a small image classifier whose
 * penultimate features define the FID space and whose predictions give the class accuracy of samples.
 * Softmax cross-entropy on real labelled images (no label dropout).
 */
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import { runDenoisingStage, type StageHandle } from '../../src/stages/denoising';
import { classifierAccuracy, classifierLoss, type TrainableClassifier } from '../../src/stages/supervised';
import { deferred, reuseFinishedModel, MODEL_PORT_TYPE, optimizationOf, saveModelFile, stageProgress, stageSchemaProperties, type StageNodeCommonConfig } from '../../src/stages/node-support';
import schema from './schema.json';

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
    batches: { kind: 'stream', type: 'batch', description: 'Labelled image batches (no label dropout).' },
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out images: evaluation loss and the final accuracy.' },
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The trained classifier (EMA weights); also written to model.safetensors.' },
  },
  create(ctx) {
    const c = ctx.config;
    const result = deferred<TrainableClassifier>();
    const handle: StageHandle = {};
    let trained: TrainableClassifier | undefined;
    return {
      resources: { model: result.promise },
      async run() {
        const student = (ctx.resources.model as TrainableClassifier).clone();
        const finished = await reuseFinishedModel(ctx, () => student.clone(), path.join(ctx.outDir, 'model.safetensors'));
        if (finished) {
          student.dispose();
          trained = finished;
          result.resolve(finished);
          return;
        }
        const progress = stageProgress(ctx, 'classifier', c.iterations, c.logEvery);
        const data = ctx.resources.data as DatasetResource | undefined;
        try {
          trained = await runDenoisingStage<TrainableClassifier>({
            name: 'classifier', student, batches: ctx.streams.batches as Observable<Batch>, optimization: optimizationOf(c),
            lossFor: classifierLoss(student), seed: ctx.seed, checkpointDir: path.join(ctx.outDir, 'checkpoints'), resume: ctx.resume,
            heldOut: data?.test, evalBatches: c.evalBatches, evalBatchSize: c.evalBatchSize, signal: ctx.signal, progress: progress.report,
          }, handle);
          const metadata: Record<string, string> = { stage: 'classifier-training', iterations: String(c.iterations), seed: String(ctx.seed) };
          if (data) {
            const acc = await classifierAccuracy(trained, data.test);
            ctx.log.info(`held-out accuracy ${(acc * 100).toFixed(2)}% (${data.test.shape[0]} images)`);
            metadata.heldOutAccuracy = String(acc);
          }
          await saveModelFile(trained, path.join(ctx.outDir, 'model.safetensors'), metadata);
          result.resolve(trained);
        } catch (err) {
          result.reject(err);
          throw err;
        } finally {
          progress.done();
          student.dispose();
        }
      },
      async saveState() {
        await handle.trainer?.checkpoint();
      },
      dispose() {
        trained?.dispose();
      },
    };
  },
});
