/** `guidance-distillation` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { Enum, NodeConfig, Obj, Type, type Static } from '../../src/schema/typebox';
import { MIN_SNR_GAMMA_SCHEMA, NOISE_OFFSET_SCHEMA, lossWeightingSchema, stageSchemaProperties } from '../../src/stage-engine/node-support';
import { validationSchema } from '../../src/stage-engine/validation';

export const configSchema = NodeConfig('guidance-distillation node config', 'Stage one: distilling classifier-free guidance into the student. Defaults are the seed\'s hyper-parameters.', {
  variant: Enum(['fixed', 'w-range'], { default: 'fixed', description: '"fixed": one guidance scale (the seed); "w-range": w ~ U[wMin, wMax] per example and a w-conditioned student (the paper).' }),
  guidanceScale: Type.Number({ minimum: 1, default: 5, description: 'Guidance scale g of the fixed variant (seed / diffusers convention: 1 = no guidance; the seed uses 5).' }),
  wMin: Type.Number({ minimum: 0, default: 0, description: 'Smallest guidance weight w = g − 1 of the w-range variant.' }),
  wMax: Type.Number({ minimum: 0, default: 4, description: 'Largest guidance weight of the w-range variant.' }),
  guidanceRescale: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'Guidance rescale φ applied to the teacher\'s guided prediction (0 = none).' }),
  distillWeight: Type.Number({ minimum: 0, default: 1, description: 'Weight of the distillation loss MSE(v̂_student, guided v̂_teacher).' }),
  targetWeight: Type.Number({ minimum: 0, default: 0, description: 'Weight of the ordinary loss of the student against the data (mixed in; 0 = pure distillation).' }),
  targetLoss: lossWeightingSchema('target'),
  minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
  noiseOffset: NOISE_OFFSET_SCHEMA,
  replay: Obj({
    blockBatches: Type.Integer({ minimum: 0, default: 0, description: 'Micro-batches per spilled block (the seed: 250; 0 = lock-step).' }),
    times: Type.Integer({ minimum: 1, default: 1, description: 'Student passes over each block.' }),
    shuffle: Type.Boolean({ default: false, description: 'Reshuffle all the block\'s examples into new batches every pass (seeded per block and pass, so resume stays exact).' }),
  }, {
    default: { blockBatches: 0, times: 1, shuffle: false },
    description: 'The seed\'s replay in stage one: the guided teacher targets of blockBatches batches are computed, spilled to <run>/<node>/replay/, trained on `times` times (reshuffled into new batches every pass with shuffle, as the seed does), then deleted. blockBatches 0 (default): lock-step, the teacher runs for every micro-batch.',
  }),
  ...stageSchemaProperties({ iterations: 2000, accumulation: 2, lr: 1e-5, emaDecay: 0.995, gradClip: 1 }),
  validation: validationSchema(),
});

/** The resolved config (schema defaults filled in). */
export type GuidanceDistillationConfig = Static<typeof configSchema>;
