/**
 * `guidance-distillation`: stage one (spec 5.2). A student initialised from the (v-prediction) teacher
 * learns the teacher's classifier-free-guided prediction in one pass:
 * - `fixed` (the seed): one guidance scale g for every example;
 * - `w-range` (the paper): w ~ U[wMin, wMax] per example, given to a student with a guidance-weight
 *   embedding, so that one student serves every w.
 * Loss: distillWeight·MSE(v̂_student, guided v̂_teacher) + targetWeight·(ordinary loss against the data).
 */
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { Problem } from '../../src/errors';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import { guidanceDistillationLoss, guidanceDistillationParts } from '../../src/stages/denoising';
import type { LossWeighting } from '../../src/stages/common';
import { lossWeightingSchema, MIN_SNR_GAMMA_SCHEMA, MODEL_PORT_TYPE, NOISE_OFFSET_SCHEMA, stageSchemaProperties, type StageNodeCommonConfig } from '../../src/stages/node-support';
import { denoiserValidation, trainingStageInstance, VALIDATION_DECODER_PORT } from '../../src/stages/stage-node';
import type { TrainableDenoiser } from '../../src/stages/types';
import { validationSchema } from '../../src/stages/validation';
import schema from './schema.json';
import { batchStreamPort } from '../../src/registry/ports';

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
  noiseOffset: number;
  replay: { blockBatches: number; times: number; shuffle: boolean };
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
      noiseOffset: NOISE_OFFSET_SCHEMA,
      replay: {
        type: 'object', additionalProperties: false, default: { blockBatches: 0, times: 1, shuffle: false },
        description: 'The seed\'s replay in stage one: the guided teacher targets of blockBatches batches are computed, spilled to <run>/<node>/replay/, trained on `times` times (reshuffled into new batches every pass with shuffle, as the seed does), then deleted. blockBatches 0 (default): lock-step, the teacher runs for every micro-batch.',
        properties: {
          blockBatches: { type: 'integer', minimum: 0, default: 0, description: 'Micro-batches per spilled block (the seed: 250; 0 = lock-step).' },
          times: { type: 'integer', minimum: 1, default: 1, description: 'Student passes over each block.' },
          shuffle: { type: 'boolean', default: false, description: 'Reshuffle all the block\'s examples into new batches every pass (seeded per block and pass, so resume stays exact).' },
        },
      },
      ...stageSchemaProperties({ iterations: 2000, accumulation: 2, lr: 1e-5, emaDecay: 0.995, gradClip: 1 }),
      validation: validationSchema(),
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
    batches: batchStreamPort('Training batches.'),
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out data for the evaluation loss (best checkpoint).' },
    autoencoder: VALIDATION_DECODER_PORT,
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
    const teacher = (): TrainableDenoiser => ctx.resources.model as TrainableDenoiser;
    const lossOptions = {
      ...(c.variant === 'fixed' ? { guidanceScale: c.guidanceScale } : { weightRange: [c.wMin, c.wMax] as [number, number] }),
      guidanceRescale: c.guidanceRescale, distillWeight: c.distillWeight, targetWeight: c.targetWeight,
      loss: { weighting: c.targetLoss, minSnrGamma: c.minSnrGamma, noiseOffset: c.noiseOffset },
    };
    return trainingStageInstance<TrainableDenoiser>(ctx, {
      nodeType: 'guidance-distillation',
      stage: 'stage-one',
      progressLabel: 'stage one',
      makeStudent: (model) => (c.variant === 'w-range' ? model.cloneWith({ guidance_embed: true }) : model.clone()),
      lossFor: (student) => guidanceDistillationLoss(student, teacher(), ctx.resources.schedule as NoiseSchedule, lossOptions),
      replay: (student) => (c.replay.blockBatches > 0
        ? { ...c.replay, ...guidanceDistillationParts(student, teacher(), ctx.resources.schedule as NoiseSchedule, lossOptions) }
        : undefined),
      validation: denoiserValidation(ctx),
      metadata: { variant: c.variant, guidance: c.variant === 'fixed' ? String(c.guidanceScale) : `w in [${c.wMin}, ${c.wMax}]` },
    });
  },
});
