/**
 * `progressive-distillation`: stage two (spec 5.3, replay 5.4). Rounds halve the sampling steps from
 * baseSteps/2 down; each round's EMA student becomes the next round's teacher. The student learns the
 * target x̃ of two teacher DDIM steps with the truncated-SNR x-space loss (other weightings selectable);
 * teacher targets are computed for a block of batches, spilled to the run folder, replayed, deleted.
 */
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { Problem } from '../../src/errors';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import type { StageHandle } from '../../src/stages/denoising';
import type { LossWeighting } from '../../src/stages/common';
import type { SnrWeighting, TargetSnrWeighting } from '../../src/training/losses';
import { checkRounds, runProgressiveDistillation, type DistillationRound, type DistilledStudent } from '../../src/stages/progressive';
import { deferred, lossWeightingSchema, MIN_SNR_GAMMA_SCHEMA, MODEL_PORT_TYPE, NOISE_OFFSET_SCHEMA, optimizationOf, stageProgress, stageSchemaProperties, type StageNodeCommonConfig } from '../../src/stages/node-support';
import type { TrainableDenoiser } from '../../src/stages/types';
import { nodeValidation, validationClasses, validationSchema } from '../../src/stages/validation';
import { firstStageDecoder, VALIDATION_DECODER_PORT } from '../../src/stages/stage-node';
import schema from './schema.json';
import { distributedRunOf } from '../../src/distributed/context';
import { batchStreamPort } from '../../src/registry/ports';

export interface ProgressiveDistillationConfig extends Omit<StageNodeCommonConfig, 'iterations'> {
  baseSteps: number;
  rounds: DistillationRound[];
  teacherGuidanceScale: number;
  wMin?: number;
  wMax?: number;
  lossWeighting: SnrWeighting | TargetSnrWeighting;
  minSnrGamma: number;
  distillWeight: number;
  targetWeight: number;
  targetLoss: LossWeighting;
  replay: { blockBatches: number; times: number; shuffle: boolean };
  noiseOffset: number;
}

/** The students of every round, largest step count first; the resource of the `students` port. */
export type StudentsResource = DistilledStudent[];

/** Values that describe the whole stage rather than one round's training. */
const RUN_LEVEL_KEYS = new Set(['round', 'steps', 'stepsPerSecond']);

/**
 * Adds a per-round copy of each round value (loss, lr, evaluation loss …) under
 * `round-<r>-<N>steps/<key>`, the round's folder name: TensorBoard then shows each round as its own
 * series (`<node>/round-2-8steps/loss`) beside the whole stage's `<node>/loss`.
 */
export function withRoundTags(values: Record<string, number>): Record<string, number> {
  if (values.round === undefined || values.steps === undefined) return values;
  const out: Record<string, number> = { ...values };
  const prefix = `round-${values.round}-${values.steps}steps`;
  for (const [key, v] of Object.entries(values)) if (!RUN_LEVEL_KEYS.has(key)) out[`${prefix}/${key}`] = v;
  return out;
}

export const SEED_ROUNDS: DistillationRound[] = [
  { steps: 32, iterations: 2000, emaDecay: 0.995 },
  { steps: 16, iterations: 2000, emaDecay: 0.995 },
  { steps: 8, iterations: 5000, emaDecay: 0.995 },
  { steps: 4, iterations: 20000, emaDecay: 0.999 },
  { steps: 2, iterations: 20000, emaDecay: 0.999 },
  { steps: 1, iterations: 20000, emaDecay: 0.999 },
];

export function progressiveDistillationConfigSchema(): JsonSchema {
  const { iterations: _unused, ...common } = stageSchemaProperties({ accumulation: 2, lr: 1e-5, emaDecay: 0.995, gradClip: 1 });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'progressive-distillation node config',
    description: 'Stage two: halving the sampling steps round by round. Defaults are the seed\'s hyper-parameters.',
    type: 'object',
    additionalProperties: false,
    properties: {
      baseSteps: { type: 'integer', minimum: 2, default: 64, description: 'K: the DDIM step count of the first teacher (the seed\'s teacher_max_train_steps = 64). Every N-step model samples the N-step sub-sequence of the K-step schedule.' },
      rounds: {
        type: 'array', minItems: 1, default: SEED_ROUNDS,
        description: 'The rounds, each halving the previous step count (the first student has baseSteps/2). Default: the seed\'s 64→32→16→8→4→2→1 with 2000/2000/5000/20000/20000/20000 steps and EMA 0.995/0.999.',
        items: {
          type: 'object', additionalProperties: false, required: ['steps', 'iterations'],
          properties: {
            steps: { type: 'integer', minimum: 1, description: 'Student sampling steps N of this round (the teacher uses 2N).' },
            iterations: { type: 'integer', minimum: 1, description: 'Optimizer steps of this round.' },
            emaDecay: { type: 'number', minimum: 0, exclusiveMaximum: 1, description: 'EMA decay of this round (default: emaDecay).' },
            lr: { type: 'number', exclusiveMinimum: 0, description: 'Learning rate of this round (default: lr).' },
          },
        },
      },
      teacherGuidanceScale: { type: 'number', minimum: 1, default: 1, description: 'Guidance scale g of the first teacher\'s targets: 1 when stage one has built guidance in (the seed); > 1 distils a guided teacher directly.' },
      wMin: { type: 'number', minimum: 0, description: 'For a w-conditioned teacher (stage-one w-range variant): w ~ U[wMin, wMax] per example, given to teacher and student.' },
      wMax: { type: 'number', minimum: 0, description: 'Upper end of the guidance-weight range (with wMin).' },
      lossWeighting: lossWeightingSchema('truncated_snr', ['truncated_snr', 'min_snr', 'snr_plus_one', 'unweighted', 'target_min_snr', 'target_truncated_snr', 'target_snr_plus_one'], 'the distillation target x̃ (x space: target_truncated_snr equals truncated_snr and target_snr_plus_one equals snr_plus_one here)'),
      minSnrGamma: MIN_SNR_GAMMA_SCHEMA,
      noiseOffset: NOISE_OFFSET_SCHEMA,
      distillWeight: { type: 'number', minimum: 0, default: 1, description: 'Weight of the distillation loss (x-space, weighted by lossWeighting) against the two-step teacher target x̃.' },
      targetWeight: { type: 'number', minimum: 0, default: 0, description: 'Weight of the ordinary loss of the student against the data, mixed in (0 = pure distillation).' },
      targetLoss: lossWeightingSchema('target'),
      replay: {
        type: 'object', additionalProperties: false, default: { blockBatches: 250, times: 1, shuffle: false },
        description: 'The seed\'s replay: teacher targets for blockBatches batches are computed, spilled to <run>/<node>/replay/, trained on `times` times (reshuffled into new batches every pass with shuffle, as the seed does), then deleted. blockBatches 0: lock-step, nothing spilled.',
        properties: {
          blockBatches: { type: 'integer', minimum: 0, default: 250, description: 'Batches per spilled block (the seed: 250).' },
          times: { type: 'integer', minimum: 1, default: 1, description: 'Student passes over each block.' },
          shuffle: { type: 'boolean', default: false, description: 'The seed\'s order: every pass reshuffles all the block\'s examples into new batches (seeded per block and pass, so resume stays exact). false: every pass replays the stored batches in order.' },
        },
      },
      ...common,
      validation: validationSchema({}, { stepsIgnored: true }),
    },
  };
}

export const progressiveDistillationNode = defineNodeType<ProgressiveDistillationConfig>({
  type: 'progressive-distillation',
  description: 'Stage two: progressive distillation, halving the sampling steps round by round (with replay)',
  configSchema: schema as JsonSchema,
  inputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The first teacher (the stage-one student); not changed.' },
    schedule: { kind: 'resource', type: 'noise-schedule', description: 'The noise schedule; its spacing defines the K-step base schedule.' },
    batches: batchStreamPort('Training batches (re-read from the start for every round).'),
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out data for the evaluation loss (best checkpoint).' },
    autoencoder: VALIDATION_DECODER_PORT,
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The last round\'s student (fewest steps).' },
    students: { kind: 'resource', type: 'students', description: 'Every round\'s student with its step count (for evaluation).' },
  },
  check(config) {
    const problems: Problem[] = checkRounds(config.baseSteps, config.rounds);
    if ((config.wMin === undefined) !== (config.wMax === undefined)) {
      problems.push({ path: config.wMin === undefined ? 'wMin' : 'wMax', message: 'wMin and wMax go together' });
    } else if (config.wMin !== undefined && !(config.wMax! > config.wMin)) {
      problems.push({ path: 'wMax', message: 'the weight range must not be empty', expected: `> wMin (${config.wMin})`, found: String(config.wMax) });
    }
    if (config.distillWeight === 0 && config.targetWeight === 0) problems.push({ path: 'distillWeight', message: 'distillWeight and targetWeight are both 0: nothing to learn' });
    return problems;
  },
  create(ctx) {
    const c = ctx.config;
    const finalModel = deferred<TrainableDenoiser>();
    const all = deferred<StudentsResource>();
    const handle: StageHandle = {};
    let students: DistilledStudent[] = [];
    return {
      resources: { model: finalModel.promise, students: all.promise },
      async run() {
        const total = c.rounds.reduce((a, r) => a + r.iterations, 0);
        const validation = nodeValidation(ctx, c.validation, () => ctx.resources.schedule as NoiseSchedule,
          () => firstStageDecoder(ctx.resources.autoencoder), c.baseSteps);
        const progress = stageProgress(ctx, 'stage two', total, c.logEvery, withRoundTags);
        const distributed = distributedRunOf(ctx.container);
        try {
          // Fail before training, not at the first grid.
          if (validation) validationClasses(c.validation!, ctx.resources.model as TrainableDenoiser);
          students = await runProgressiveDistillation({
            teacher: ctx.resources.model as TrainableDenoiser, schedule: ctx.resources.schedule as NoiseSchedule,
            baseSteps: c.baseSteps, rounds: c.rounds, batches: ctx.streams.batches as Observable<Batch>,
            optimization: optimizationOf({ ...c, iterations: 1 }), teacherGuidanceScale: c.teacherGuidanceScale,
            ...(c.wMin !== undefined ? { weightRange: [c.wMin, c.wMax!] as [number, number] } : {}),
            lossWeighting: c.lossWeighting, minSnrGamma: c.minSnrGamma, distillWeight: c.distillWeight, targetWeight: c.targetWeight,
            targetLoss: c.targetLoss, replay: c.replay, noiseOffset: c.noiseOffset, seed: ctx.seed, outDir: ctx.outDir, resume: ctx.resume,
            heldOut: (ctx.resources.data as DatasetResource | undefined)?.test, evalBatches: c.evalBatches, evalBatchSize: c.evalBatchSize,
            signal: ctx.signal, progress: progress.report, logEvery: c.logEvery, log: (m, f) => ctx.log.info(m, f),
            onEvaluation: (step, value, round, steps) => progress.evaluation(step, value, { round, steps }),
            ...(validation ? { validation: { every: validation.every, run: (model, step, shape, round, steps) => validation.run(model, step, shape, round, steps) } } : {}),
            ...(distributed ? { distributed } : {}),
          }, handle);
          for (const s of students) ctx.log.info(`${s.steps}-step student written to ${path.relative(ctx.runDir, s.file)}`);
          finalModel.resolve(students[students.length - 1].model);
          all.resolve(students);
        } catch (err) {
          finalModel.reject(err);
          all.reject(err);
          throw err;
        } finally {
          progress.done();
        }
      },
      async saveState() {
        await handle.trainer?.checkpoint();
      },
      dispose() {
        for (const s of students) s.model.dispose();
      },
    };
  },
});
