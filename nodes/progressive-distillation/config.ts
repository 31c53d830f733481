/** `progressive-distillation` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, Obj, Type, type Static } from '../../src/schema/typebox';
import { lossWeightingSchema, MIN_SNR_GAMMA_SCHEMA, NOISE_OFFSET_SCHEMA, stageSchemaProperties } from '../../src/stage-engine/node-support';
import { validationSchema } from '../../src/stage-engine/validation';
import type { DistillationRound } from './stage';

export const SEED_ROUNDS: DistillationRound[] = [
  { steps: 32, iterations: 2000, emaDecay: 0.995 },
  { steps: 16, iterations: 2000, emaDecay: 0.995 },
  { steps: 8, iterations: 5000, emaDecay: 0.995 },
  { steps: 4, iterations: 20000, emaDecay: 0.999 },
  { steps: 2, iterations: 20000, emaDecay: 0.999 },
  { steps: 1, iterations: 20000, emaDecay: 0.999 },
];

const { iterations: _unused, ...common } = stageSchemaProperties({ accumulation: 2, lr: 1e-5, emaDecay: 0.995, gradClip: 1 });

export const configSchema = NodeConfig('progressive-distillation node config', 'Stage two: halving the sampling steps round by round. Defaults are the seed\'s hyper-parameters.', {
  baseSteps: Type.Integer({ minimum: 2, default: 64, description: 'K: the DDIM step count of the first teacher (the seed\'s teacher_max_train_steps = 64). Every N-step model samples the N-step sub-sequence of the K-step schedule.' }),
  rounds: Type.Array(Obj({
    steps: Type.Integer({ minimum: 1, description: 'Student sampling steps N of this round (the teacher uses 2N).' }),
    iterations: Type.Integer({ minimum: 1, description: 'Optimizer steps of this round.' }),
    emaDecay: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1, description: 'EMA decay of this round (default: emaDecay).' })),
    lr: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Learning rate of this round (default: lr).' })),
  }), {
    minItems: 1, default: SEED_ROUNDS,
    description: 'The rounds, each halving the previous step count (the first student has baseSteps/2). Default: the seed\'s 64→32→16→8→4→2→1 with 2000/2000/5000/20000/20000/20000 steps and EMA 0.995/0.999.',
  }),
  teacherGuidanceScale: Type.Number({ minimum: 1, default: 1, description: 'Guidance scale g of the first teacher\'s targets: 1 when stage one has built guidance in (the seed); > 1 distils a guided teacher directly.' }),
  wMin: Type.Optional(Type.Number({ minimum: 0, description: 'For a w-conditioned teacher (stage-one w-range variant): w ~ U[wMin, wMax] per example, given to teacher and student.' })),
  wMax: Type.Optional(Type.Number({ minimum: 0, description: 'Upper end of the guidance-weight range (with wMin).' })),
  lossWeighting: lossWeightingSchema('truncated_snr', ['truncated_snr', 'min_snr', 'snr_plus_one', 'unweighted', 'target_min_snr', 'target_truncated_snr', 'target_snr_plus_one'], 'the distillation target x̃ (x space: target_truncated_snr equals truncated_snr and target_snr_plus_one equals snr_plus_one here)'),
  minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
  noiseOffset: NOISE_OFFSET_SCHEMA,
  distillWeight: Type.Number({ minimum: 0, default: 1, description: 'Weight of the distillation loss (x-space, weighted by lossWeighting) against the two-step teacher target x̃.' }),
  targetWeight: Type.Number({ minimum: 0, default: 0, description: 'Weight of the ordinary loss of the student against the data, mixed in (0 = pure distillation).' }),
  targetLoss: lossWeightingSchema('target'),
  replay: Obj({
    blockBatches: Type.Integer({ minimum: 0, default: 250, description: 'Batches per spilled block (the seed: 250).' }),
    times: Type.Integer({ minimum: 1, default: 1, description: 'Student passes over each block.' }),
    shuffle: Type.Boolean({ default: false, description: 'The seed\'s order: every pass reshuffles all the block\'s examples into new batches (seeded per block and pass, so resume stays exact). false: every pass replays the stored batches in order.' }),
  }, {
    default: { blockBatches: 250, times: 1, shuffle: false },
    description: 'The seed\'s replay: teacher targets for blockBatches batches are computed, spilled to <run>/<node>/replay/, trained on `times` times (reshuffled into new batches every pass with shuffle, as the seed does), then deleted. blockBatches 0: lock-step, nothing spilled.',
  }),
  ...common,
  validation: validationSchema({}, { stepsIgnored: true }),
});

/** The resolved config (schema defaults filled in). */
export type ProgressiveDistillationConfig = Static<typeof configSchema>;
