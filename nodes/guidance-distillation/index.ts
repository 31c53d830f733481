/**
 * `guidance-distillation`: stage one (spec 5.2). A student initialised from the (v-prediction) teacher
 * learns the teacher's classifier-free-guided prediction in one pass:
 * - `fixed` (the seed): one guidance scale g for every example;
 * - `w-range` (the paper): w ~ U[wMin, wMax] per example, given to a student with a guidance-weight
 *   embedding, so that one student serves every w.
 * Loss: distillWeight·MSE(v̂_student, guided v̂_teacher) + targetWeight·(ordinary loss against the data).
 */
import { defineNodeType } from '../../src/registry/types';
import type { Problem } from '../../src/errors';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import { guidanceDistillationLoss, guidanceDistillationParts } from './loss';
import { MODEL_PORT_TYPE } from '../../src/stage-engine/node-support';
import { denoiserValidation, trainingStageInstance, denoisingStageInputs } from '../../src/stage-engine/stage-node';
import type { TrainableDenoiser } from '../../src/stage-engine/types';
import { configSchema, type GuidanceDistillationConfig } from './config';
export type { GuidanceDistillationConfig } from './config';

export const guidanceDistillationNode = defineNodeType<GuidanceDistillationConfig>({
  type: 'guidance-distillation',
  description: 'Stage one: distil classifier-free guidance into the student (fixed scale, or w-conditioned)',
  configSchema,
  inputs: denoisingStageInputs({
    model: 'The guided teacher (v-prediction after v-finetune); not changed.',
    batches: 'Training batches.',
  }),
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
