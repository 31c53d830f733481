/**
 * `teacher-training`: trains a class-conditional denoiser from its initial weights on data batches
 * (spec 5.0): t uniform, ε ~ N(0, I), the model's own target (ε for an epsilon model), label dropout
 * done by the data node (0.1 for guidance). Outputs the EMA weights as a new model when done.
 */
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import { denoisingStageLoss, runDenoisingStage, type StageHandle } from '../../src/stages/denoising';
import type { LossWeighting } from '../../src/stages/common';
import { deferred, reuseFinishedModel, lossWeightingSchema, MIN_SNR_GAMMA_SCHEMA, MODEL_PORT_TYPE, optimizationOf, saveModelFile, stageProgress, stageSchemaProperties, type StageNodeCommonConfig } from '../../src/stages/node-support';
import type { TrainableDenoiser } from '../../src/stages/types';
import schema from './schema.json';

export interface TeacherTrainingConfig extends StageNodeCommonConfig {
  lossWeighting: LossWeighting;
  minSnrGamma: number;
}

export function teacherTrainingConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'teacher-training node config',
    description: 'Training a class-conditional diffusion model on its own target (ε for epsilon models).',
    type: 'object',
    additionalProperties: false,
    required: ['iterations'],
    properties: {
      ...stageSchemaProperties({ lr: 1e-3, emaDecay: 0.999, lrSchedule: 'cosine', warmupSteps: 100 }),
      lossWeighting: lossWeightingSchema('target'),
      minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
    },
  };
}

export const teacherTrainingNode = defineNodeType<TeacherTrainingConfig>({
  type: 'teacher-training',
  description: 'Train a class-conditional diffusion model (the epsilon teacher) on batches of latents',
  configSchema: schema as JsonSchema,
  inputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The denoiser to start from (its weights are copied, not changed).' },
    schedule: { kind: 'resource', type: 'noise-schedule', description: 'The training noise schedule.' },
    batches: { kind: 'stream', type: 'batch', description: 'Training batches (labels already dropped to the null class where wanted).' },
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out data for the evaluation loss (best checkpoint).' },
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The trained model (EMA weights); resolves when training ends. Also written to model.safetensors.' },
  },
  create(ctx) {
    const c = ctx.config;
    const result = deferred<TrainableDenoiser>();
    const handle: StageHandle = {};
    let trained: TrainableDenoiser | undefined;
    return {
      resources: { model: result.promise },
      async run() {
        const student = (ctx.resources.model as TrainableDenoiser).clone();
        const finished = await reuseFinishedModel(ctx, () => student.clone(), path.join(ctx.outDir, 'model.safetensors'));
        if (finished) {
          student.dispose();
          trained = finished;
          result.resolve(finished);
          return;
        }
        const schedule = ctx.resources.schedule as NoiseSchedule;
        const progress = stageProgress(ctx, 'train', c.iterations, c.logEvery);
        try {
          trained = await runDenoisingStage({
            name: 'teacher', student, batches: ctx.streams.batches as Observable<Batch>, optimization: optimizationOf(c),
            lossFor: denoisingStageLoss(student, schedule, { weighting: c.lossWeighting, minSnrGamma: c.minSnrGamma }),
            seed: ctx.seed, checkpointDir: path.join(ctx.outDir, 'checkpoints'), resume: ctx.resume,
            heldOut: (ctx.resources.data as DatasetResource | undefined)?.test, evalBatches: c.evalBatches, evalBatchSize: c.evalBatchSize,
            signal: ctx.signal, progress: progress.report,
          }, handle);
          await saveModelFile(trained, path.join(ctx.outDir, 'model.safetensors'), { stage: 'teacher-training', iterations: String(c.iterations), seed: String(ctx.seed) });
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
