/**
 * Single-round training stages on a batch stream: teacher training (spec 5.0), fine-tuning to
 * v-prediction (5.1) and stage one, guidance distillation (5.2). They differ only in the loss of a
 * micro-batch; the loop (accumulation, EMA, checkpoints, resume, evaluation) is shared.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import type { Batch } from '../data/batch';
import type { ArrayDataset } from '../data/dataset';
import type { NoiseSchedule } from '../diffusion/schedule';
import { guidedPredict, type GuidanceSpec } from '../diffusion/guidance';
import { convertPrediction } from '../diffusion/predictions';
import { weightedMse } from '../training/losses';
import type { Rng } from '../training/rng';
import { randomUniform } from '../training/rng';
import { ConfigError } from '../errors';
import { denoisingLoss, drawNoised, evaluationLoss, forEachBatch, holdBatch, releaseBatch, shardRng, stepRng, type DenoisingLossOptions, type HeldBatch } from './common';
import { checkpointOnCancel, StageTrainer, type DistributedTraining, type OptimizationConfig } from './trainer';
import type { TrainableDenoiser } from './types';
import type { WeightModule } from '../models/types';

/** A micro-batch loss: (student, x, labels, rng) → scalar. Runs inside tf.variableGrads. */
export type MicroBatchLoss = (x: tf.Tensor4D, labels: tf.Tensor1D, rng: Rng) => tf.Scalar;

export interface StageProgress {
  (step: number, total: number, metrics: Record<string, number>): void;
}

/** Any model a stage can train: named variables, and a copy for the result. */
export type StageModel<T> = WeightModule & { clone(): T };

export interface DenoisingStageOptions<T extends StageModel<T> = TrainableDenoiser> {
  /** Name used for the random streams and logs (e.g. `teacher`, `v-finetune`, `stage-one`). */
  name: string;
  student: T;
  batches: Observable<Batch>;
  optimization: OptimizationConfig;
  lossFor: MicroBatchLoss;
  seed: number;
  checkpointDir: string;
  resume: boolean;
  heldOut?: ArrayDataset;
  evalBatches?: number;
  evalBatchSize?: number;
  signal?: AbortSignal;
  progress?: StageProgress;
  /** Steps logged every this many steps (and the last): in a data-parallel run their loss is averaged across ranks. */
  logEvery?: number;
  /** Data-parallel run: gradients averaged over ranks; each rank's random draws are its shard of the global batch's. */
  distributed?: DistributedTraining;
}

/** A running stage, so that a node's saveState can checkpoint it. */
export interface StageHandle {
  trainer?: StageTrainer;
}

/**
 * Trains `student` in place and returns a new model holding the stage's result (the EMA weights).
 */
export async function runDenoisingStage<T extends StageModel<T> = TrainableDenoiser>(o: DenoisingStageOptions<T>, handle: StageHandle = {}): Promise<T> {
  const c = o.optimization;
  let trainerRef: StageTrainer | undefined;
  const evaluate = o.heldOut && (o.evalBatches ?? 0) > 0
    ? (): Promise<number> => trainerRef!.withResultWeights(() => evaluationLoss(o.heldOut, o.evalBatchSize ?? 64, o.evalBatches ?? 0, o.seed, o.lossFor))
    : undefined;
  const trainer: StageTrainer = new StageTrainer({
    student: o.student, config: c, checkpointDir: o.checkpointDir, signal: o.signal,
    ...(o.distributed ? { distributed: o.distributed } : {}),
    hooks: {
      evaluate,
      onStep: (step, r) => o.progress?.(step, c.iterations, { loss: r.loss, lr: r.lr, gradNorm: r.gradNorm }),
      lossLogged: (step) => (o.logEvery ?? 0) > 0 && (step % o.logEvery! === 0 || step === c.iterations),
    },
  });
  trainerRef = trainer;
  handle.trainer = trainer;
  try {
    const start = o.resume ? await trainer.restore() : 0;
    const pending: HeldBatch[] = [];
    try {
    await forEachBatch(o.batches, start * c.accumulation, c.iterations * c.accumulation, async (b) => {
      pending.push(holdBatch(b));
      if (pending.length < c.accumulation) return;
      const step = trainer.step;
      const micro = pending.splice(0);
      try {
        await trainer.update(micro.map((m, i) => () => o.lossFor(m.x, m.labels, shardRng(stepRng(o.seed, o.name, step, i), o.distributed))));
      } finally {
        micro.forEach(releaseBatch);
      }
    }, o.signal);
    } finally {
      pending.forEach(releaseBatch);
    }
    if (!trainer.done) {
      throw new ConfigError(`${o.name} stage`, [{ path: 'batches', message: `the batch stream ended after ${trainer.step} of ${c.iterations} optimizer steps`, hint: 'raise the data node\'s epochs / maxBatches, or lower iterations' }]);
    }
    const result = o.student.clone();
    trainer.copyResultTo(result);
    return result;
  } catch (err) {
    await checkpointOnCancel(trainer, o.signal);
    throw err;
  } finally {
    trainer.dispose();
    handle.trainer = undefined;
  }
}

/** Loss of teacher training and of the v fine-tune: the denoising loss of the student's own target. */
export function denoisingStageLoss(student: TrainableDenoiser, schedule: NoiseSchedule, loss: DenoisingLossOptions): MicroBatchLoss {
  return (x, labels, rng) => tf.tidy(() => {
    const { eps, t, z } = drawNoised(schedule, x, rng);
    const prediction = student.predict(z, t, labels);
    return denoisingLoss(schedule, prediction, student.predictionType, x, eps, z, t, loss);
  });
}

export interface GuidanceDistillationLossOptions {
  /** Seed variant: one fixed guidance scale g. */
  guidanceScale?: number;
  /** Paper variant: w ~ U[wMin, wMax] per example, passed to a w-conditioned student. */
  weightRange?: [number, number];
  guidanceRescale?: number;
  /** Weight of the distillation term MSE(v̂_student, guided v̂_teacher). */
  distillWeight: number;
  /** Weight of the ordinary denoising term of the student against the data. */
  targetWeight: number;
  loss: DenoisingLossOptions;
}

/**
 * Stage one (spec 5.2): the student (v-prediction) learns the teacher's guided prediction. Both are
 * compared as v; the teacher is any prediction type. The ordinary target loss can be mixed in.
 */
export function guidanceDistillationLoss(student: TrainableDenoiser, teacher: TrainableDenoiser, schedule: NoiseSchedule,
  o: GuidanceDistillationLossOptions): MicroBatchLoss {
  if ((o.guidanceScale === undefined) === (o.weightRange === undefined)) {
    throw new ConfigError('guidance distillation', [{ path: 'guidanceScale', message: 'give exactly one of a fixed guidance scale (seed) or a weight range (paper)' }]);
  }
  if (o.weightRange && !student.takesGuidanceWeight) {
    throw new ConfigError('guidance distillation', [{ path: 'variant', message: 'the paper variant needs a student with a guidance-weight embedding (guidance_embed: true)' }]);
  }
  return (x, labels, rng) => tf.tidy(() => {
    const { eps, t, z } = drawNoised(schedule, x, rng);
    const batch = x.shape[0];
    const w = o.weightRange ? randomUniform(rng.fork('w'), [batch], o.weightRange[0], o.weightRange[1]) as tf.Tensor1D : undefined;
    const guidance: GuidanceSpec = w ? { weight: w } : { scale: o.guidanceScale! };
    const teacherOut = guidedPredict(teacher, z, t, labels, { guidance, ...(o.guidanceRescale ? { rescale: o.guidanceRescale } : {}) });
    // The teacher's ops do not involve the student's variables, so no gradient flows into the target.
    const target = convertPrediction(schedule, teacherOut, z, t, teacher.predictionType, 'v_prediction');
    const studentOut = student.predict(z, t, labels, w);
    const vStudent = convertPrediction(schedule, studentOut, z, t, student.predictionType, 'v_prediction');
    let total = tf.mul(o.distillWeight, weightedMse(vStudent, target)) as tf.Scalar;
    if (o.targetWeight > 0) {
      total = tf.add(total, tf.mul(o.targetWeight, denoisingLoss(schedule, studentOut, student.predictionType, x, eps, z, t, o.loss))) as tf.Scalar;
    }
    return total;
  });
}
