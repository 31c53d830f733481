/**
 * Stage two, progressive distillation (spec 5.3), with the seed's replay (5.4). Rounds halve the step
 * count: in a round with an N-step student, the teacher (the previous round's EMA student; the stage-one
 * model in the first round) samples in 2N steps of the K-step base schedule, and the student learns to
 * land in one DDIM step where the teacher lands in two. Each round's EMA weights become the next
 * round's teacher, and are written to `round-<r>-<N>steps/student.safetensors`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import type { Batch } from '../../src/data/batch';
import type { ArrayDataset } from '../../src/data/dataset';
import type { NoiseSchedule } from '../../src/diffusion/schedule';
import type { DistillationTriple } from '../../src/diffusion/timesteps';
import { guidedPredict, type GuidanceSpec } from '../../src/diffusion/guidance';
import { teacherTwoStepTarget, tripleTensors } from '../../src/diffusion/distillation-target';
import { predictSample } from '../../src/diffusion/predictions';
import { gatherSchedule } from '../../src/diffusion/coefficients';
import { addNoise } from '../../src/diffusion/noising';
import { isTargetSnrWeighting, snrWeight, targetSnrWeight, weightedMse, type SnrWeighting, type TargetSnrWeighting } from '../../src/training/losses';
import { randomUniform, type Rng } from '../../src/training/rng';
import { loadSafetensorsAsTf, writeSafetensors } from '../../src/io/safetensors';
import { ConfigError, type Problem } from '../../src/errors';
import { denoisingLoss, drawNoise, evaluationLoss, forEachBatch, forEachBlock, shardRng, stepRng, type HeldBatch, type LossWeighting } from '../../src/stage-engine/common';
import { concatReplayItems, deleteReplayBlock, disposeReplayItems, ensureReplayBlock, gatherReplayItem, readReplayBlock, replayPassOrder, type ReplayItem } from '../../src/stage-engine/replay';
import { checkpointOnCancel, StageTrainer, type DistributedTraining, type OptimizationConfig } from '../../src/stage-engine/trainer';
import { LossParts, partsIfLogged, reportingEvaluation, scaledLrFactor, stepLogged, validateIfDue, type StageHandle, type StageProgress, type StageValidation } from '../../src/stage-engine/denoising';
import type { TrainableDenoiser } from '../../src/stage-engine/types';

export interface DistillationRound {
  /** Student steps N of this round (the teacher uses 2N). */
  steps: number;
  /** Optimizer steps of this round. */
  iterations: number;
  /** EMA decay of this round (default: the stage's emaDecay). */
  emaDecay?: number;
  /** Learning rate of this round (default: the stage's lr). */
  lr?: number;
}

export interface ReplayConfig {
  /** Batches whose teacher targets are computed together and spilled to disk; 0 = lock-step, no spill. */
  blockBatches: number;
  /** Student passes over each block. */
  times: number;
  /**
   * The seed's order: every pass reshuffles the block's examples into new batches (seeded per block and
   * pass). false (default): every pass replays the stored batches in order.
   */
  shuffle?: boolean;
}

export interface ProgressiveOptions {
  /** The first round's teacher; it samples in `baseSteps` steps. Not modified. */
  teacher: TrainableDenoiser;
  schedule: NoiseSchedule;
  baseSteps: number;
  rounds: DistillationRound[];
  batches: Observable<Batch>;
  /** Shared settings; each round overrides iterations, emaDecay and lr. */
  optimization: Omit<OptimizationConfig, 'iterations'>;
  /** Guidance scale the first teacher is sampled with (1 when stage one already built guidance in). */
  teacherGuidanceScale: number;
  /** For w-conditioned models: w ~ U[lo, hi] per example, given to teacher and student. */
  weightRange?: [number, number];
  /** x-space weightings, or the seed's (target_*) on the MSE to x̃ as it is. */
  lossWeighting: SnrWeighting | TargetSnrWeighting;
  minSnrGamma?: number;
  distillWeight: number;
  /** Weight of the ordinary denoising loss of the student (its own target) mixed in. */
  targetWeight: number;
  targetLoss: LossWeighting;
  replay: ReplayConfig;
  /** Offset noise of the draws (the seed's `--noise_offset`; 0 = none). */
  noiseOffset?: number;
  seed: number;
  outDir: string;
  resume: boolean;
  heldOut?: ArrayDataset;
  evalBatches?: number;
  evalBatchSize?: number;
  signal?: AbortSignal;
  progress?: StageProgress;
  /** Steps (counted over all rounds) logged every this many steps (and the last): in a data-parallel run their loss is averaged across ranks. */
  logEvery?: number;
  /** Data-parallel run: each rank computes the teacher targets of its own shard (replay blocks spill under its own outDir). */
  distributed?: DistributedTraining;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Each evaluation loss with the stage's step (counted across rounds), the round and its student steps. */
  onEvaluation?: (step: number, evalLoss: number, round: number, steps: number) => void;
  /**
   * Validation grids of each round's student at its own step count; `step` counts across rounds. Due
   * every `every` steps of a round and at its end.
   */
  validation?: StageValidation<TrainableDenoiser, [round: number, steps: number]>;
}

export interface DistilledStudent {
  steps: number;
  model: TrainableDenoiser;
  file: string;
}

/** Cross-field checks of a round list: halving from K/2 down, positive iterations. */
export function checkRounds(baseSteps: number, rounds: readonly DistillationRound[], pathPrefix = 'rounds'): Problem[] {
  const problems: Problem[] = [];
  if (rounds.length === 0) problems.push({ path: pathPrefix, message: 'at least one round is needed' });
  let teacherSteps = baseSteps;
  rounds.forEach((r, i) => {
    if (r.steps * 2 !== teacherSteps) {
      problems.push({ path: `${pathPrefix}.${i}.steps`, message: `each round halves the previous step count (the first starts from baseSteps = ${baseSteps})`, expected: String(teacherSteps / 2), found: String(r.steps) });
    }
    teacherSteps = r.steps;
  });
  return problems;
}

export function roundDir(outDir: string, index: number, steps: number): string {
  return path.join(outDir, `round-${index}-${steps}steps`);
}

function roundStudentFile(outDir: string, index: number, steps: number): string {
  return path.join(roundDir(outDir, index, steps), 'student.safetensors');
}

/** Draws z_t at a random student step and computes the teacher's target: one replay item. */
export function computeReplayItem(o: { schedule: NoiseSchedule; teacher: TrainableDenoiser; guidance?: GuidanceSpec; triples: readonly DistillationTriple[]; weightRange?: [number, number]; noiseOffset?: number },
  x: tf.Tensor4D, labels: tf.Tensor1D, rng: Rng): ReplayItem {
  const batch = x.shape[0];
  return tf.tidy(() => {
    const indices = rng.fork('i').intArray(batch, o.triples.length);
    const { t, tMid, tNext } = tripleTensors(o.triples, indices);
    const eps = drawNoise(x, rng, o.noiseOffset);
    const z = addNoise(o.schedule, x, eps, t);
    const w = o.weightRange ? randomUniform(rng.fork('w'), [batch], o.weightRange[0], o.weightRange[1]) as tf.Tensor1D : undefined;
    const guidance: GuidanceSpec | undefined = w ? { weight: w } : o.guidance;
    const teacherFn = (zz: tf.Tensor4D, tt: tf.Tensor1D) => guidedPredict(o.teacher, zz, tt, labels, guidance ? { guidance } : {});
    const { target } = teacherTwoStepTarget(o.schedule, { z, t, tMid, tNext, teacher: teacherFn, predictionType: o.teacher.predictionType });
    return { x: x.clone(), eps, t, z, labels: labels.clone(), target, ...(w ? { w } : {}) };
  });
}

/** The student's loss on one replay item: weighted x-space MSE to x̃, plus the optional data target loss. */
export function studentLoss(o: Pick<ProgressiveOptions, 'schedule' | 'lossWeighting' | 'minSnrGamma' | 'distillWeight' | 'targetWeight' | 'targetLoss'>,
  student: TrainableDenoiser, item: ReplayItem, parts?: LossParts): tf.Scalar {
  return tf.tidy(() => {
    const out = student.predict(item.z, item.t, item.labels, item.w);
    const xHat = predictSample(o.schedule, out, item.z, item.t, student.predictionType);
    const snr = gatherSchedule(o.schedule, 'snr', item.t);
    const weight = isTargetSnrWeighting(o.lossWeighting) ? targetSnrWeight(o.lossWeighting, snr, o.minSnrGamma) : snrWeight(o.lossWeighting, snr, o.minSnrGamma);
    let loss = tf.mul(o.distillWeight, weightedMse(xHat, item.target, weight)) as tf.Scalar;
    parts?.record('distillLoss', loss);
    if (o.targetWeight > 0) {
      const target = tf.mul(o.targetWeight, denoisingLoss(o.schedule, out, student.predictionType, item.x, item.eps, item.z, item.t,
        { weighting: o.targetLoss, minSnrGamma: o.minSnrGamma })) as tf.Scalar;
      parts?.record('targetLoss', target);
      loss = tf.add(loss, target) as tf.Scalar;
    }
    return loss;
  });
}

async function loadModelFile(template: TrainableDenoiser, file: string): Promise<TrainableDenoiser> {
  const model = template.clone();
  const weights = await loadSafetensorsAsTf(file);
  try {
    model.loadWeights(weights);
  } finally {
    tf.dispose(Object.values(weights));
  }
  return model;
}

async function saveModelFile(model: TrainableDenoiser, file: string, metadata: Record<string, string>): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const weights = model.getWeights();
  try {
    await writeSafetensors(file, weights, { ...metadata, config: JSON.stringify(model.config) });
  } finally {
    tf.dispose(Object.values(weights));
  }
}

/** Runs every round; returns each round's student (the caller disposes them). */
export async function runProgressiveDistillation(o: ProgressiveOptions, handle: StageHandle = {}): Promise<DistilledStudent[]> {
  const problems = checkRounds(o.baseSteps, o.rounds);
  const k = o.schedule.config.teacherMaxTrainSteps;
  if (k > 0 && k !== o.baseSteps) {
    problems.push({ path: 'baseSteps', message: 'must equal the schedule\'s teacherMaxTrainSteps (its DistillDDIMScheduler sub-sequence base)', expected: String(k), found: String(o.baseSteps) });
  }
  if (problems.length) throw new ConfigError('progressive distillation', problems);
  if (o.weightRange && !o.teacher.takesGuidanceWeight) {
    throw new ConfigError('progressive distillation', [{ path: 'weightRange', message: 'a guidance-weight range needs a w-conditioned teacher (the stage-one paper variant)' }]);
  }
  const students: DistilledStudent[] = [];
  let teacher = o.teacher;
  const totalIterations = o.rounds.reduce((a, r) => a + r.iterations, 0);
  let doneBefore = 0;
  try {
    for (let r = 0; r < o.rounds.length; r++) {
      const round = o.rounds[r];
      const file = roundStudentFile(o.outDir, r, round.steps);
      if (o.resume && fs.existsSync(file)) {
        const model = await loadModelFile(o.teacher, file);
        students.push({ steps: round.steps, model, file });
        o.log?.(`round ${r} (${round.steps} steps) already finished; loaded ${file}`);
      } else {
        const model = await runRound(o, r, teacher, handle, doneBefore, totalIterations);
        await saveModelFile(model, file, { steps: String(round.steps), round: String(r), baseSteps: String(o.baseSteps) });
        students.push({ steps: round.steps, model, file });
      }
      teacher = students[students.length - 1].model;
      doneBefore += round.iterations;
    }
    await fs.promises.rm(path.join(o.outDir, 'replay'), { recursive: true, force: true });
    return students;
  } catch (err) {
    for (const s of students) s.model.dispose();
    throw err;
  }
}

async function runRound(o: ProgressiveOptions, r: number, teacher: TrainableDenoiser, handle: StageHandle,
  doneBefore: number, totalIterations: number): Promise<TrainableDenoiser> {
  const round = o.rounds[r];
  const config: OptimizationConfig = { ...o.optimization, iterations: round.iterations, emaDecay: round.emaDecay ?? o.optimization.emaDecay, lr: round.lr ?? o.optimization.lr };
  const triples = o.schedule.distillationTriples(o.baseSteps, round.steps);
  const guidance: GuidanceSpec | undefined = r === 0 && o.teacherGuidanceScale !== 1 ? { scale: o.teacherGuidanceScale } : undefined;
  const itemOptions = { schedule: o.schedule, teacher, guidance, triples, weightRange: o.weightRange, noiseOffset: o.noiseOffset };
  const student = teacher.clone();
  const dir = roundDir(o.outDir, r, round.steps);
  const replayDir = path.join(o.outDir, 'replay', `round-${r}`);
  const stageName = `round-${r}`;
  let trainerRef: StageTrainer | undefined;
  const parts = new LossParts();
  const evaluate = reportingEvaluation(o.heldOut && (o.evalBatches ?? 0) > 0
    ? (): Promise<number> => trainerRef!.withResultWeights(() => evaluationLoss(o.heldOut, o.evalBatchSize ?? 64, o.evalBatches ?? 0, o.seed,
      (x, labels, rng) => tf.tidy(() => {
        const item = computeReplayItem(itemOptions, x, labels, rng);
        return studentLoss(o, student, item);
      }), o.signal))
    : undefined, () => doneBefore + trainerRef!.step, o.onEvaluation && ((step, value) => o.onEvaluation!(step, value, r, round.steps)));
  const trainer: StageTrainer = new StageTrainer({
    student, config, checkpointDir: path.join(dir, 'checkpoints'), signal: o.signal,
    ...(o.distributed ? { distributed: o.distributed } : {}),
    hooks: {
      evaluate,
      onStep: async (step, res) => {
        const logged = await partsIfLogged(parts, o.progress, doneBefore + step, totalIterations, o.distributed, o.logEvery);
        o.progress?.(doneBefore + step, totalIterations, { round: r, steps: round.steps, loss: res.loss, lr: res.lr, gradNorm: res.gradNorm, ...(res.allReduceMs !== undefined ? { allReduceMs: res.allReduceMs } : {}) }, logged);
      },
      lossLogged: (step) => stepLogged(o.progress, o.logEvery, doneBefore + step, totalIterations),
    },
  });
  trainerRef = trainer;
  handle.trainer = trainer;
  try {
    const start = o.resume ? await trainer.restore() : 0;
    if (start > 0) o.log?.(`round ${r} (${round.steps} steps) resumes at step ${start}`);
    const acc = config.accumulation;
    const totalMicro = config.iterations * acc;
    let micro = start * acc;
    const pending: ReplayItem[] = [];
    const trainOn = async (item: ReplayItem, owned: boolean): Promise<void> => {
      pending.push(item);
      micro += 1;
      if (pending.length < acc) return;
      const batch = pending.splice(0);
      if (config.scaleLr) trainer.setLrScale(scaledLrFactor(batch, acc, o.distributed?.group.worldSize));
      const sampleShape: [number, number, number] = [item.x.shape[1], item.x.shape[2], item.x.shape[3]];
      try {
        await trainer.update(batch.map((it) => () => studentLoss(o, student, it, parts)));
      } finally {
        if (owned) disposeReplayItems(batch);
      }
      await validateIfDue(trainer, student, o.validation, sampleShape, doneBefore, r, round.steps);
    };
    try {
      if (o.replay.blockBatches === 0) {
        // Lock-step: one teacher target per micro-batch, nothing spilled.
        await forEachBatch(o.batches, micro, totalMicro, async (b) => {
          const item = computeReplayItem(itemOptions, b.x, b.labels, shardRng(stepRng(o.seed, stageName, micro), o.distributed));
          await trainOn(item, true);
        }, o.signal);
      } else {
        const B = o.replay.blockBatches;
        const R = o.replay.times;
        const perBlock = B * R;
        const firstBlock = Math.floor(micro / perBlock);
        const lastBlock = Math.ceil(totalMicro / perBlock) - 1;
        const runBlock = async (block: number, batches: HeldBatch[]): Promise<void> => {
          const file = await ensureReplayBlock(replayDir, block, batches.length,
            (j) => computeReplayItem(itemOptions, batches[j].x, batches[j].labels, shardRng(stepRng(o.seed, stageName, block, j), o.distributed)), o.signal);
          const items = await readReplayBlock(file);
          const all = o.replay.shuffle ? concatReplayItems(items) : undefined;
          const sizes = items.map((it) => it.x.shape[0]);
          try {
            while (micro < Math.min(totalMicro, (block + 1) * perBlock)) {
              const m = micro - block * perBlock;
              if (all) {
                const order = replayPassOrder(o.seed, stageName, block, Math.floor(m / B), sizes);
                await trainOn(gatherReplayItem(all, order[m % B]), true);
              } else {
                await trainOn(items[m % B], false);
              }
            }
          } finally {
            disposeReplayItems(items);
            if (all) disposeReplayItems([all]);
          }
          await deleteReplayBlock(file);
        };
        await forEachBlock(o.batches, firstBlock, lastBlock, B, runBlock, o.signal);
        await fs.promises.rm(replayDir, { recursive: true, force: true });
      }
    } finally {
      disposeReplayItems(pending);
    }
    if (!trainer.done) {
      throw new ConfigError('progressive distillation', [{ path: `rounds.${r}`, message: `the batch stream ended after ${trainer.step} of ${config.iterations} optimizer steps`, hint: 'raise the data node\'s epochs / maxBatches, or lower iterations' }]);
    }
    const result = student.clone();
    trainer.copyResultTo(result);
    return result;
  } catch (err) {
    await checkpointOnCancel(trainer, o.signal);
    throw err;
  } finally {
    parts.clear();
    trainer.dispose();
    student.dispose();
    handle.trainer = undefined;
  }
}
