/**
 * The loop of the single-round training stages on a batch stream: teacher training (spec 5.0),
 * fine-tuning to v-prediction (5.1), stage one, guidance distillation (5.2, its loss in
 * nodes/guidance-distillation/loss.ts), and the autoencoder and classifier training. They differ only in
 * the loss of a micro-batch; the loop (accumulation, EMA, checkpoints, resume, evaluation, replay
 * blocks, validation grids) is this one. Stage two (nodes/progressive-distillation/stage.ts) reuses its
 * pieces for its rounds.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Observable } from 'rxjs';
import type { Batch } from '../data/batch';
import type { ArrayDataset } from '../data/dataset';
import type { NoiseSchedule } from '../diffusion/schedule';
import type { Rng } from '../training/rng';
import { ConfigError } from '../errors';
import { denoisingLoss, drawNoised, evaluationLoss, forEachBatch, holdBatch, releaseBatch, shardRng, stepRng, type DenoisingLossOptions, type HeldBatch } from './common';
import { checkpointOnCancel, StageTrainer, type DistributedTraining, type OptimizationConfig } from './trainer';
import type { TrainableDenoiser } from './types';
import type { WeightModule } from '../models/types';
import type { ReplayItem } from './replay';
import { runReplayLoop } from './replay-loop';
import { validationDue } from './validation';

/**
 * A micro-batch loss: (student, x, labels, rng) → scalar. Runs inside tf.variableGrads. A loss made of
 * weighted terms records each term in `parts` when given (for the logs; the value is not changed).
 */
export type MicroBatchLoss = (x: tf.Tensor4D, labels: tf.Tensor1D, rng: Rng, parts?: LossParts) => tf.Scalar;

/**
 * The weighted terms of the micro-batch losses of one optimizer step (e.g. `distillLoss`, `targetLoss`),
 * recorded as kept clones inside the loss's gradient scope (only extra reads: the loss and its gradients
 * are the same ops as without a recorder). `read` averages each term over the micro-batches with one
 * asynchronous read (any backend, WebGPU included) and releases them; `clear` releases them unread.
 */
export class LossParts {
  private held = new Map<string, tf.Scalar[]>();

  record(key: string, term: tf.Scalar): void {
    const list = this.held.get(key) ?? [];
    list.push(tf.keep(term.clone()));
    this.held.set(key, list);
  }

  async read(): Promise<Record<string, number>> {
    const entries = [...this.held.entries()];
    this.held = new Map();
    const all = entries.flatMap(([, list]) => list);
    if (all.length === 0) return {};
    try {
      const stacked = tf.stack(all);
      let values: Float32Array;
      try {
        values = await stacked.data() as Float32Array;
      } finally {
        stacked.dispose();
      }
      const out: Record<string, number> = {};
      let i = 0;
      for (const [key, list] of entries) {
        let sum = 0;
        for (let j = 0; j < list.length; j++) sum += values[i++];
        out[key] = sum / list.length;
      }
      return out;
    } finally {
      tf.dispose(all);
    }
  }

  clear(): void {
    for (const list of this.held.values()) tf.dispose(list);
    this.held = new Map();
  }
}

export interface StageProgress {
  /** `logged`: keys added to what is logged at this step (not to the progress display). */
  (step: number, total: number, metrics: Record<string, number>, logged?: Record<string, number>): void;
  /** Whether `step` of `total` is logged (so a stage reads loss parts only then). */
  logs?(step: number, total: number): boolean;
}

/**
 * Whether `step` of `total` is logged: the progress's own rule when it has one, else every `logEvery` steps
 * and the last. The trainer's `lossLogged` and `partsIfLogged` both use it, so in a data-parallel run every
 * rank joins the same loss all-reduces.
 */
export function stepLogged(progress: StageProgress | undefined, logEvery: number | undefined, step: number, total: number): boolean {
  if (progress?.logs) return progress.logs(step, total);
  return (logEvery ?? 0) > 0 && (step % logEvery! === 0 || step === total);
}

/**
 * An onStep hook's logged-only keys: the loss parts when the step is logged, else nothing (and they are
 * released). In a data-parallel run the parts are averaged across the ranks (one all-reduce of a few
 * scalars per logged step, as the trainer does for the loss), so the log shows the global batch's terms.
 */
export async function partsIfLogged(parts: LossParts, progress: StageProgress | undefined, step: number, total: number,
  distributed?: DistributedTraining, logEvery?: number): Promise<Record<string, number>> {
  if (!stepLogged(progress, logEvery, step, total)) {
    parts.clear();
    return {};
  }
  const values = await parts.read();
  if (!distributed || distributed.group.worldSize <= 1) return values;
  // Every rank records the same terms in the same order (the same loss code), so the keys line up.
  const keys = Object.keys(values);
  const buffer = new Float32Array(keys.map((k) => values[k]));
  await distributed.group.allReduce(buffer, 'mean');
  return Object.fromEntries(keys.map((k, i) => [k, buffer[i]]));
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
  /** The seed's replay (stage one): targets computed per block, spilled, trained on `times` times; blockBatches 0 = lock-step. */
  replay?: StageReplay;
  /** Each evaluation loss, after the optimizer step it was measured at (for logs and the progress line). */
  onEvaluation?: (step: number, evalLoss: number) => void;
  /** Validation grids (src/stage-engine/validation.ts): `run` is called with the result weights in the student when due. */
  validation?: StageValidation<T>;
  /** Steps logged every this many steps (and the last): in a data-parallel run their loss is averaged across ranks. */
  logEvery?: number;
  /** Data-parallel run: gradients averaged over ranks; each rank's random draws are its shard of the global batch's. */
  distributed?: DistributedTraining;
}

/** Replay of a single-round stage: the block settings, where blocks are spilled, and the loss split into target and student parts. */
export interface StageReplay {
  blockBatches: number;
  times: number;
  shuffle: boolean;
  dir: string;
  compute(x: tf.Tensor4D, labels: tf.Tensor1D, rng: Rng): ReplayItem;
  loss(item: ReplayItem, parts?: LossParts): tf.Scalar;
}

/** What a stage calls to draw a validation grid (with `Extra` arguments, e.g. stage two's round); `every` = 0 disables it. */
export interface StageValidation<T, Extra extends unknown[] = []> {
  every: number;
  run(model: T, step: number, sampleShape: [number, number, number], ...extra: Extra): Promise<void>;
}

/**
 * Draws a validation grid with the trainer's result weights when one is due (named by `stepOffset` + the
 * trainer's step: stage two counts steps across rounds). Touches no training
 * state: the weights are restored bit for bit afterwards and the sampler's noise is its own.
 */
export async function validateIfDue<T, Extra extends unknown[] = []>(trainer: StageTrainer, student: T, validation: StageValidation<T, Extra> | undefined,
  sampleShape: [number, number, number] | undefined, stepOffset = 0, ...extra: Extra): Promise<void> {
  if (!validation || !sampleShape || !validationDue(validation, trainer.step, trainer.config.iterations)) return;
  // Data-parallel run: rank 0 alone draws and writes the grid (it uses no collective; the others go on to the next all-reduce).
  if (!trainer.writes) return;
  await trainer.withResultWeights(() => validation.run(student, stepOffset + trainer.step, sampleShape, ...extra));
}

/** Wraps an evaluation so that each value is reported with the step it was measured at. */
export function reportingEvaluation(evaluate: (() => Promise<number>) | undefined, step: () => number,
  report?: (step: number, evalLoss: number) => void): (() => Promise<number>) | undefined {
  if (!evaluate || !report) return evaluate;
  return async () => {
    const value = await evaluate();
    report(step(), value);
    return value;
  };
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
  const parts = new LossParts();
  const evaluate = reportingEvaluation(o.heldOut && (o.evalBatches ?? 0) > 0
    ? (): Promise<number> => trainerRef!.withResultWeights(() => evaluationLoss(o.heldOut, o.evalBatchSize ?? 64, o.evalBatches ?? 0, o.seed, o.lossFor, o.signal))
    : undefined, () => trainerRef!.step, o.onEvaluation);
  const trainer: StageTrainer = new StageTrainer({
    student: o.student, config: c, checkpointDir: o.checkpointDir, signal: o.signal,
    ...(o.distributed ? { distributed: o.distributed } : {}),
    hooks: {
      evaluate,
      onStep: async (step, r) => {
        const logged = await partsIfLogged(parts, o.progress, step, c.iterations, o.distributed, o.logEvery);
        o.progress?.(step, c.iterations, { loss: r.loss, lr: r.lr, gradNorm: r.gradNorm, ...(r.allReduceMs !== undefined ? { allReduceMs: r.allReduceMs } : {}) }, logged);
      },
      lossLogged: (step) => stepLogged(o.progress, o.logEvery, step, c.iterations),
    },
  });
  trainerRef = trainer;
  handle.trainer = trainer;
  try {
    const start = o.resume ? await trainer.restore() : 0;
    const pending: HeldBatch[] = [];
    let sampleShape: [number, number, number] | undefined;
    if (o.replay && o.replay.blockBatches > 0) {
      await runReplayLoop({
        stage: o.name, seed: o.seed, dir: o.replay.dir, ...(o.distributed ? { distributed: o.distributed } : {}), blockBatches: o.replay.blockBatches, times: o.replay.times, shuffle: o.replay.shuffle,
        batches: o.batches, trainer, accumulation: c.accumulation, iterations: c.iterations, compute: o.replay.compute, loss: (item) => o.replay!.loss(item, parts),
        ...(c.scaleLr ? { beforeStep: (items: readonly ReplayItem[]) => trainer.setLrScale(scaledLrFactor(items, c.accumulation, o.distributed?.group.worldSize)) } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        afterStep: async (items: readonly ReplayItem[]) => {
          sampleShape ??= [items[0].x.shape[1], items[0].x.shape[2], items[0].x.shape[3]];
          await validateIfDue(trainer, o.student, o.validation, sampleShape);
        },
      });
    } else try {
    await forEachBatch(o.batches, start * c.accumulation, c.iterations * c.accumulation, async (b) => {
      sampleShape ??= [b.x.shape[1], b.x.shape[2], b.x.shape[3]];
      pending.push(holdBatch(b));
      if (pending.length < c.accumulation) return;
      if (c.scaleLr) trainer.setLrScale(scaledLrFactor(pending, c.accumulation, o.distributed?.group.worldSize));
      const step = trainer.step;
      const micro = pending.splice(0);
      try {
        await trainer.update(micro.map((m, i) => () => o.lossFor(m.x, m.labels, shardRng(stepRng(o.seed, o.name, step, i), o.distributed), parts)));
      } finally {
        micro.forEach(releaseBatch);
      }
      await validateIfDue(trainer, o.student, o.validation, sampleShape);
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
    parts.clear();
    trainer.dispose();
    handle.trainer = undefined;
  }
}

/**
 * The seed's --scale_lr factor, the global batch: examples per micro-batch × accumulation × processes
 * (`worldSize`, 1 outside a data-parallel run; each rank's micro-batch is its 1/K shard of the global one).
 */
export function scaledLrFactor(micro: readonly { x: tf.Tensor }[], accumulation: number, worldSize = 1): number {
  return micro[0].x.shape[0] * accumulation * worldSize;
}

/** Loss of teacher training and of the v fine-tune: the denoising loss of the student's own target. */
export function denoisingStageLoss(student: TrainableDenoiser, schedule: NoiseSchedule, loss: DenoisingLossOptions): MicroBatchLoss {
  return (x, labels, rng) => tf.tidy(() => {
    const { eps, t, z } = drawNoised(schedule, x, rng, loss.noiseOffset);
    const prediction = student.predict(z, t, labels);
    return denoisingLoss(schedule, prediction, student.predictionType, x, eps, z, t, loss);
  });
}
