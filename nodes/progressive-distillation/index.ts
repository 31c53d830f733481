/**
 * `progressive-distillation`: stage two (spec 5.3, replay 5.4). Rounds halve the sampling steps from
 * baseSteps/2 down; each round's EMA student becomes the next round's teacher. The student learns the
 * target x̃ of two teacher DDIM steps with the truncated-SNR x-space loss (other weightings selectable);
 * teacher targets are computed for a block of batches, spilled to the run folder, replayed, deleted.
 */
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import { defineNodeType } from '../../src/registry/types';
import type { Problem } from '../../src/errors';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import type { StageHandle } from '../../src/stage-engine/denoising';
import { checkRounds, runProgressiveDistillation, type DistilledStudent } from './stage';
import { deferred, MODEL_PORT_TYPE, optimizationOf, stageProgress } from '../../src/stage-engine/node-support';
import type { TrainableDenoiser } from '../../src/stage-engine/types';
import { nodeValidation, validationClasses } from '../../src/stage-engine/validation';
import { firstStageDecoder, denoisingStageInputs } from '../../src/stage-engine/stage-node';
import { configSchema, type ProgressiveDistillationConfig } from './config';
export { SEED_ROUNDS, type ProgressiveDistillationConfig } from './config';
import { distributedRunOf } from '../../src/distributed/context';

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

export const progressiveDistillationNode = defineNodeType<ProgressiveDistillationConfig>({
  type: 'progressive-distillation',
  description: 'Stage two: progressive distillation, halving the sampling steps round by round (with replay)',
  configSchema,
  inputs: denoisingStageInputs({
    model: 'The first teacher (the stage-one student); not changed.',
    batches: 'Training batches (re-read from the start for every round).',
    schedule: 'The noise schedule; its spacing defines the K-step base schedule.',
  }),
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
