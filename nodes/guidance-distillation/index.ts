/**
 * `guidance-distillation`: stage one (spec 5.2). A student initialised from the (v-prediction) teacher
 * learns the teacher's classifier-free-guided prediction in one pass:
 * - `fixed` (the seed): one guidance scale g for every example;
 * - `w-range` (the paper): w ~ U[wMin, wMax] per example, given to a student with a guidance-weight
 *   embedding, so that one student serves every w.
 * Loss: distillWeight·MSE(v̂_student, guided v̂_teacher) + targetWeight·(ordinary loss against the data).
 */
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { Problem } from '../../src/errors';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import { guidanceDistillationLoss, runDenoisingStage, type StageHandle } from '../../src/stages/denoising';
import type { LossWeighting } from '../../src/stages/common';
import { deferred, reuseFinishedModel, lossWeightingSchema, MIN_SNR_GAMMA_SCHEMA, MODEL_PORT_TYPE, optimizationOf, saveModelFile, stageProgress, stageSchemaProperties, type StageNodeCommonConfig } from '../../src/stages/node-support';
import type { TrainableDenoiser } from '../../src/stages/types';
import schema from './schema.json';

export interface GuidanceDistillationConfig extends StageNodeCommonConfig {
  variant: 'fixed' | 'w-range';
  guidanceScale: number;
  wMin: number;
  wMax: number;
  guidanceRescale: number;
  distillWeight: number;
  targetWeight: number;
  targetLoss: LossWeighting;
  minSnrGamma: number;
}

export function guidanceDistillationConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'guidance-distillation node config',
    description: 'Stage one: distilling classifier-free guidance into the student. Defaults are the seed\'s hyper-parameters.',
    type: 'object',
    additionalProperties: false,
    properties: {
      variant: { enum: ['fixed', 'w-range'], default: 'fixed', description: '"fixed": one guidance scale (the seed); "w-range": w ~ U[wMin, wMax] per example and a w-conditioned student (the paper).' },
      guidanceScale: { type: 'number', minimum: 1, default: 5, description: 'Guidance scale g of the fixed variant (seed / diffusers convention: 1 = no guidance; the seed uses 5).' },
      wMin: { type: 'number', minimum: 0, default: 0, description: 'Smallest guidance weight w = g − 1 of the w-range variant.' },
      wMax: { type: 'number', minimum: 0, default: 4, description: 'Largest guidance weight of the w-range variant.' },
      guidanceRescale: { type: 'number', minimum: 0, maximum: 1, default: 0, description: 'Guidance rescale φ applied to the teacher\'s guided prediction (0 = none).' },
      distillWeight: { type: 'number', minimum: 0, default: 1, description: 'Weight of the distillation loss MSE(v̂_student, guided v̂_teacher).' },
      targetWeight: { type: 'number', minimum: 0, default: 0, description: 'Weight of the ordinary loss of the student against the data (mixed in; 0 = pure distillation).' },
      targetLoss: lossWeightingSchema('target'),
      minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
      ...stageSchemaProperties({ iterations: 2000, accumulation: 2, lr: 1e-5, emaDecay: 0.995, gradClip: 1 }),
    },
  };
}

export const guidanceDistillationNode = defineNodeType<GuidanceDistillationConfig>({
  type: 'guidance-distillation',
  description: 'Stage one: distil classifier-free guidance into the student (fixed scale, or w-conditioned)',
  configSchema: schema as JsonSchema,
  inputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The guided teacher (v-prediction after v-finetune); not changed.' },
    schedule: { kind: 'resource', type: 'noise-schedule', description: 'The training noise schedule.' },
    batches: { kind: 'stream', type: 'batch', description: 'Training batches.' },
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out data for the evaluation loss (best checkpoint).' },
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The guidance-distilled student (EMA weights); resolves when done. Also written to model.safetensors.' },
  },
  check(config) {
    const problems: Problem[] = [];
    if (config.variant === 'w-range' && !(config.wMax > config.wMin)) {
      problems.push({ path: 'wMax', message: 'the weight range must not be empty', expected: `> wMin (${config.wMin})`, found: String(config.wMax) });
    }
    if (config.distillWeight === 0 && config.targetWeight === 0) problems.push({ path: 'distillWeight', message: 'distillWeight and targetWeight are both 0: nothing to learn' });
    return problems;
  },
  create(ctx) {
    const c = ctx.config;
    const result = deferred<TrainableDenoiser>();
    const handle: StageHandle = {};
    let trained: TrainableDenoiser | undefined;
    return {
      resources: { model: result.promise },
      async run() {
        const teacher = ctx.resources.model as TrainableDenoiser;
        const student = c.variant === 'w-range' ? teacher.cloneWith({ guidance_embed: true }) : teacher.clone();
        const finished = await reuseFinishedModel(ctx, () => student.clone(), path.join(ctx.outDir, 'model.safetensors'));
        if (finished) {
          student.dispose();
          trained = finished;
          result.resolve(finished);
          return;
        }
        const schedule = ctx.resources.schedule as NoiseSchedule;
        const progress = stageProgress(ctx, 'stage one', c.iterations, c.logEvery);
        try {
          trained = await runDenoisingStage({
            name: 'stage-one', student, batches: ctx.streams.batches as Observable<Batch>, optimization: optimizationOf(c),
            lossFor: guidanceDistillationLoss(student, teacher, schedule, {
              ...(c.variant === 'fixed' ? { guidanceScale: c.guidanceScale } : { weightRange: [c.wMin, c.wMax] as [number, number] }),
              guidanceRescale: c.guidanceRescale, distillWeight: c.distillWeight, targetWeight: c.targetWeight,
              loss: { weighting: c.targetLoss, minSnrGamma: c.minSnrGamma },
            }),
            seed: ctx.seed, checkpointDir: path.join(ctx.outDir, 'checkpoints'), resume: ctx.resume,
            heldOut: (ctx.resources.data as DatasetResource | undefined)?.test, evalBatches: c.evalBatches, evalBatchSize: c.evalBatchSize,
            signal: ctx.signal, progress: progress.report,
          }, handle);
          await saveModelFile(trained, path.join(ctx.outDir, 'model.safetensors'), {
            stage: 'guidance-distillation', variant: c.variant, guidance: c.variant === 'fixed' ? String(c.guidanceScale) : `w in [${c.wMin}, ${c.wMax}]`,
            iterations: String(c.iterations), seed: String(ctx.seed),
          });
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
