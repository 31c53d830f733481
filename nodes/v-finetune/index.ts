/**
 * `v-finetune`: the seed's first step (spec 5.1): the same network is fine-tuned to predict
 * v = a_t·ε − s_t·x, loss MSE(v̂, v), t uniform, label dropout from the data node. Seed defaults:
 * lr 1e-5, AdamW, clip 1.0, EMA 0.995, 2000 steps, batch 60 × 2 accumulation.
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

export interface VFinetuneConfig extends StageNodeCommonConfig {
  lossWeighting: LossWeighting;
  minSnrGamma: number;
}

export function vFinetuneConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'v-finetune node config',
    description: 'Fine-tuning a denoiser to v-prediction (the seed\'s first step). Defaults are the seed\'s hyper-parameters.',
    type: 'object',
    additionalProperties: false,
    properties: {
      ...stageSchemaProperties({ iterations: 2000, accumulation: 2, lr: 1e-5, emaDecay: 0.995, gradClip: 1 }),
      lossWeighting: lossWeightingSchema('target'),
      minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
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
    batches: { kind: 'stream', type: 'batch', description: 'Training batches (seed: label dropout 0.1).' },
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out data for the evaluation loss (best checkpoint).' },
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The v-prediction model (EMA weights); resolves when done. Also written to model.safetensors.' },
  },
  create(ctx) {
    const c = ctx.config;
    const result = deferred<TrainableDenoiser>();
    const handle: StageHandle = {};
    let trained: TrainableDenoiser | undefined;
    return {
      resources: { model: result.promise },
      async run() {
        const student = (ctx.resources.model as TrainableDenoiser).cloneWith({ prediction_type: 'v_prediction' });
        const finished = await reuseFinishedModel(ctx, () => student.clone(), path.join(ctx.outDir, 'model.safetensors'));
        if (finished) {
          student.dispose();
          trained = finished;
          result.resolve(finished);
          return;
        }
        const schedule = ctx.resources.schedule as NoiseSchedule;
        const progress = stageProgress(ctx, 'v-finetune', c.iterations, c.logEvery);
        try {
          trained = await runDenoisingStage({
            name: 'v-finetune', student, batches: ctx.streams.batches as Observable<Batch>, optimization: optimizationOf(c),
            lossFor: denoisingStageLoss(student, schedule, { weighting: c.lossWeighting, minSnrGamma: c.minSnrGamma }),
            seed: ctx.seed, checkpointDir: path.join(ctx.outDir, 'checkpoints'), resume: ctx.resume,
            heldOut: (ctx.resources.data as DatasetResource | undefined)?.test, evalBatches: c.evalBatches, evalBatchSize: c.evalBatchSize,
            signal: ctx.signal, progress: progress.report,
          }, handle);
          await saveModelFile(trained, path.join(ctx.outDir, 'model.safetensors'), { stage: 'v-finetune', iterations: String(c.iterations), seed: String(ctx.seed) });
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
