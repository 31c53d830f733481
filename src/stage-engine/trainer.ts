/**
 * The optimisation loop every training stage shares: AdamW with an LR schedule, gradient accumulation,
 * global-norm clipping, an EMA of the weights, an evaluation loss on held-out batches, checkpoints
 * every K steps (keep the last N, and the best by evaluation loss), and exact resume.
 *
 * Resume is exact because nothing random is carried as state: each stage draws the noise, timesteps
 * and label dropout of optimizer step k from `Rng.fromSeed(seed).fork(<stage>).fork(k)`, and the data
 * order of batch k is a pure function of (seed, k) (src/data/dataset.ts). A checkpoint therefore needs
 * only the weights, the EMA, the optimizer moments and the step.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../training/adamw';
import { EmaWeights } from '../training/ema';
import { createLrSchedule, LR_SCHEDULE_KINDS, lrScheduleDecays, type LrScheduleKind } from '../training/lr-schedule';
import { trainStep, type LossFunction, type TrainStepResult } from '../training/train-step';
import { CheckpointManager, latestCheckpoint, readCheckpoint, restoreCheckpoint } from '../training/checkpoint';
import { CancelledError } from '../errors';
import { eventLoopTurn } from '../event-loop';
import type { DistributedRun } from '../distributed/context';
import { allReduceMeanGradients, broadcastTensors, broadcastVariables, checkParametersAgree, newCommStats, type CommStats } from '../distributed/gradients';
import type { WeightModule } from '../models/types';
import { Enum, Type } from '../schema/typebox';

/** The optimisation settings of a stage (the stage nodes' shared config keys). */
export interface OptimizationConfig {
  /** Optimizer steps. */
  iterations: number;
  /** Micro-batches per optimizer step (gradient accumulation). */
  accumulation: number;
  lr: number;
  lrSchedule: LrScheduleKind;
  warmupSteps: number;
  /** Hard restarts of cosine_with_restarts (diffusers' num_cycles). */
  lrCycles: number;
  /** Final learning rate of polynomial (diffusers' lr_end). */
  lrEnd: number;
  /** Exponent of polynomial (diffusers' power). */
  lrPower: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  adamEpsilon: number;
  /** Global gradient-norm clip; 0 disables clipping. */
  gradClip: number;
  /** EMA decay of the weights; 0 keeps no average (the final model is the raw weights). */
  emaDecay: number;
  /** diffusers' EMA warm-up (the seed's EMAModel): update k uses min(emaDecay, (1 + n)/(10 + n)), n = k − 1. */
  emaWarmup: boolean;
  /** Checkpoint every this many optimizer steps (0: only on cancellation). */
  checkpointEvery: number;
  keepLast: number;
  /** Measure the evaluation loss every this many steps (0: at checkpoints only, when evaluation is set up). */
  evalEvery: number;
  /** The seed's --scale_lr: the stage multiplies lr by the global batch (examples per micro-batch × accumulation × processes). */
  scaleLr: boolean;
  /**
   * What selects `best.safetensors`: the evaluation loss (default), or the mean training loss over the
   * steps since the previous checkpoint (for stages without held-out data).
   */
  bestBy?: BestCheckpointMetric;
}

export type BestCheckpointMetric = 'evalLoss' | 'trainLoss';

export const OPTIMIZATION_DEFAULTS: Omit<OptimizationConfig, 'iterations'> = {
  accumulation: 1, lr: 1e-5, lrSchedule: 'constant', warmupSteps: 0, lrCycles: 1, lrEnd: 1e-7, lrPower: 1, weightDecay: 1e-2, beta1: 0.9, beta2: 0.999,
  adamEpsilon: 1e-8, gradClip: 1, emaDecay: 0.995, emaWarmup: false, checkpointEvery: 0, keepLast: 2, evalEvery: 0, scaleLr: false,
};

/** Config schema properties (TypeBox) of OptimizationConfig, with descriptions (merged into stage node schemas). */
export function optimizationSchemaProperties(defaults: Partial<OptimizationConfig> = {}) {
  const d = { ...OPTIMIZATION_DEFAULTS, ...defaults };
  return {
    iterations: Type.Integer({ minimum: 1, ...(d.iterations !== undefined ? { default: d.iterations } : {}), description: 'Optimizer steps.' }),
    accumulation: Type.Integer({ minimum: 1, default: d.accumulation, description: 'Micro-batches per optimizer step (gradient accumulation; the seed uses 2).' }),
    lr: Type.Number({ exclusiveMinimum: 0, default: d.lr, description: 'Peak learning rate of AdamW.' }),
    lrSchedule: Enum(LR_SCHEDULE_KINDS, { default: d.lrSchedule, description: 'Learning-rate schedule over the stage (linear and cosine decay to 0 at the last step; cosine_with_restarts and polynomial as diffusers defines them, see lrCycles, lrEnd, lrPower).' }),
    warmupSteps: Type.Integer({ minimum: 0, default: d.warmupSteps, description: 'Linear warm-up steps (every schedule but constant).' }),
    lrCycles: Type.Integer({ minimum: 1, default: d.lrCycles, description: 'cosine_with_restarts: number of hard restarts of the cosine over the stage (diffusers\' num_cycles; 1 is the plain cosine).' }),
    lrEnd: Type.Number({ minimum: 0, default: d.lrEnd, description: 'polynomial: the learning rate reached at the last step (diffusers\' lr_end; must be below lr).' }),
    lrPower: Type.Number({ exclusiveMinimum: 0, default: d.lrPower, description: 'polynomial: exponent of the decay (diffusers\' power; 1 is linear to lrEnd).' }),
    weightDecay: Type.Number({ minimum: 0, default: d.weightDecay, description: 'AdamW decoupled weight decay.' }),
    beta1: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: d.beta1, description: 'AdamW β1.' }),
    beta2: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: d.beta2, description: 'AdamW β2.' }),
    adamEpsilon: Type.Number({ exclusiveMinimum: 0, default: d.adamEpsilon, description: 'AdamW ε.' }),
    gradClip: Type.Number({ minimum: 0, default: d.gradClip, description: 'Clip the global gradient norm to this value; 0 disables clipping.' }),
    emaDecay: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: d.emaDecay, description: 'Decay of the exponential moving average of the weights; the EMA weights are the stage\'s result. 0 disables the EMA.' }),
    emaWarmup: Type.Boolean({ default: d.emaWarmup, description: 'Warm the EMA up as the seed does (diffusers\' EMAModel): the k-th update uses decay min(emaDecay, (1 + n)/(10 + n)) with n = k − 1 (0 at the first update, which copies the weights). false: emaDecay from the first update.' }),
    checkpointEvery: Type.Integer({ minimum: 0, default: d.checkpointEvery, description: 'Write a checkpoint every this many optimizer steps (0: only when the run is cancelled).' }),
    keepLast: Type.Integer({ minimum: 1, default: d.keepLast, description: 'Checkpoints to keep (the best one by evaluation loss is kept separately).' }),
    evalEvery: Type.Integer({ minimum: 0, default: d.evalEvery, description: 'Measure the evaluation loss on held-out batches every this many steps (0: at checkpoints only); each value is logged (logs.jsonl, the progress line) as evalLoss.' }),
    scaleLr: Type.Boolean({ default: d.scaleLr, description: 'The seed\'s --scale_lr: the peak learning rate (lr, or a round\'s lr) is multiplied by the global batch, examples per batch × accumulation (× processes under distributed training), as the seed does; the schedule\'s shape and lrEnd stay.' }),
    bestBy: Enum(['evalLoss', 'trainLoss'], { default: d.bestBy ?? 'evalLoss', description: 'What selects checkpoints/best.safetensors (lowest wins): "evalLoss", the evaluation loss at the checkpoint (needs the data input and evalBatches > 0), or "trainLoss", the mean training loss over the steps since the previous checkpoint.' }),
  };
}

function scheduleOf(c: OptimizationConfig, lr: number): (step: number) => number {
  return createLrSchedule({
    kind: c.lrSchedule, lr,
    warmupSteps: c.lrSchedule === 'constant' ? 0 : c.warmupSteps,
    ...(lrScheduleDecays(c.lrSchedule) ? { totalSteps: c.iterations } : {}),
    ...(c.lrSchedule === 'cosine_with_restarts' ? { cycles: c.lrCycles } : {}),
    ...(c.lrSchedule === 'polynomial' ? { lrEnd: c.lrEnd, power: c.lrPower } : {}),
  });
}

export interface TrainerHooks {
  /** Loss on held-out data with the current (EMA if kept) weights; used for the best checkpoint. */
  evaluate?: () => Promise<number> | number;
  /** Called after each optimizer step. */
  onStep?: (step: number, result: TrainStepResult) => void | Promise<void>;
  /**
   * Whether the loss of this optimizer step is logged. In a data-parallel run that step's loss is then
   * averaged across the ranks (one all-reduce of a scalar) before onStep, so the log shows the global loss.
   */
  lossLogged?: (step: number) => boolean;
}

export interface StageTrainerOptions {
  /** The model whose variables are optimised (in place). */
  student: WeightModule;
  config: OptimizationConfig;
  /** Folder of this stage's (or round's) checkpoints. */
  checkpointDir: string;
  hooks?: TrainerHooks;
  signal?: AbortSignal;
  /** Data-parallel training (src/distributed): gradients are averaged over the group's ranks. */
  distributed?: DistributedTraining;
}

export type DistributedTraining = DistributedRun;

export class StageTrainer {
  readonly config: OptimizationConfig;
  readonly checkpointDir: string;
  private readonly student: WeightModule;
  private readonly optimizer: AdamW;
  private readonly ema?: EmaWeights;
  private lrAt: (step: number) => number;
  private readonly hooks: TrainerHooks;
  private readonly signal?: AbortSignal;
  private current = 0;
  private readonly checkpoints: CheckpointManager;
  private lastLoss = NaN;
  private lossSum = 0;
  private lossCount = 0;
  private disposed = false;
  private readonly distributed?: DistributedTraining;
  private synchronized = false;
  /** Time and bytes of the gradient all-reduce (data-parallel runs). */
  readonly comm: CommStats = newCommStats();

  constructor(options: StageTrainerOptions) {
    const c = options.config;
    this.config = c;
    this.student = options.student;
    this.checkpointDir = options.checkpointDir;
    this.hooks = options.hooks ?? {};
    this.signal = options.signal;
    this.distributed = options.distributed && options.distributed.group.worldSize > 1 ? options.distributed : undefined;
    this.optimizer = new AdamW(this.student.variables, { lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.adamEpsilon, weightDecay: c.weightDecay });
    this.checkpoints = new CheckpointManager({ dir: options.checkpointDir, keepLast: c.keepLast, best: { metric: c.bestBy ?? 'evalLoss', mode: 'min' } });
    this.ema = c.emaDecay > 0 ? new EmaWeights(this.student.variables, { decay: c.emaDecay, warmup: c.emaWarmup }) : undefined;
    this.lrAt = scheduleOf(c, c.lr);
  }

  /** Whether this process writes the stage's outputs (checkpoints, validation grids): rank 0, or a single-process run. */
  get writes(): boolean {
    return !this.distributed || this.distributed.group.rank === 0;
  }

  /** Optimizer steps taken. */
  get step(): number {
    return this.current;
  }

  get done(): boolean {
    return this.current >= this.config.iterations;
  }

  /** The latest training loss (NaN before the first step). */
  get loss(): number {
    return this.lastLoss;
  }

  /**
  /**
   * The seed's --scale_lr: the peak lr becomes lr × `factor` (the global batch; the stage sets it once it has
   * seen a batch), the schedule's shape and polynomial's lrEnd unchanged, as when the seed rescales
   * args.learning_rate before building its scheduler. Stateless: a resumed stage sets it again from its first batch.
   */
  setLrScale(factor: number): void {
    this.lrAt = scheduleOf(this.config, this.config.lr * factor);
  }

  /**
   * Continues from the newest checkpoint in the folder, if any; returns the step to continue from. In a
   * data-parallel run only rank 0 keeps checkpoints: every rank then takes rank 0's state and step.
   */
  async restore(): Promise<number> {
    await this.restoreLocal();
    if (this.distributed) await this.synchronize();
    return this.current;
  }

  private async restoreLocal(): Promise<number> {
    const file = await latestCheckpoint(this.checkpointDir);
    if (!file) return 0;
    const loaded = await readCheckpoint(file, this.student.variables);
    try {
      restoreCheckpoint(loaded, { variables: this.student.variables, optimizer: this.optimizer, ...(this.ema ? { ema: this.ema } : {}) });
      this.current = loaded.step;
    } finally {
      loaded.dispose();
    }
    return this.current;
  }

  /**
   * One optimizer step over the given micro-batch losses (their gradients are averaged), then the EMA
   * update, and an evaluation / checkpoint when due.
   */
  async update(losses: LossFunction[], extra?: Record<string, unknown>): Promise<TrainStepResult> {
    // Timers (progress lines), signal handlers (Ctrl-C) and I/O get a turn between steps.
    await eventLoopTurn();
    if (this.signal?.aborted) throw new CancelledError();
    const dist = this.distributed;
    if (dist && !this.synchronized) await this.synchronize();
    const lr = this.lrAt(this.current);
    const commMs = this.comm.ms;
    const result = await trainStep(this.optimizer, losses, {
      lr, ...(this.config.gradClip > 0 ? { maxGradNorm: this.config.gradClip } : {}),
      ...(dist ? { reduceGradients: (g: Map<string, tf.Tensor>) => allReduceMeanGradients(dist.group, g, this.comm) } : {}),
    });
    // Time this rank spent in the gradient all-reduce (waiting for the slowest rank included), for the step logs.
    if (dist) result.allReduceMs = this.comm.ms - commMs;
    this.ema?.update();
    this.current += 1;
    // trainLoss (bestBy) sums this rank's own losses; a data-parallel run sums them over the ranks at the checkpoint.
    if (Number.isFinite(result.loss)) {
      this.lossSum += result.loss;
      this.lossCount += 1;
    }
    if (dist && this.hooks.lossLogged?.(this.current)) {
      // Equal shards: the mean of the ranks' mean losses is the mean loss over the global batch.
      const loss = new Float32Array([result.loss]);
      await dist.group.allReduce(loss, 'mean');
      result.loss = loss[0];
    }
    this.lastLoss = result.loss;
    await this.hooks.onStep?.(this.current, result);
    const c = this.config;
    if (dist && ((dist.checksumEvery > 0 && this.current % dist.checksumEvery === 0) || this.current === c.iterations)) {
      await checkParametersAgree(dist.group, this.student.variables, this.current);
    }
    const checkpointDue = c.checkpointEvery > 0 && this.current % c.checkpointEvery === 0;
    const evalDue = this.hooks.evaluate && ((c.evalEvery > 0 && this.current % c.evalEvery === 0) || checkpointDue);
    let evalLoss: number | undefined;
    if (evalDue) evalLoss = await this.hooks.evaluate!();
    if (checkpointDue) {
      if (dist) {
        // Every rank is here at the same step: trainLoss becomes the mean over the global batches since the last checkpoint.
        const sums = new Float32Array([this.lossSum, this.lossCount]);
        await dist.group.allReduce(sums, 'sum');
        this.lossSum = sums[0];
        this.lossCount = sums[1];
      }
      await this.checkpoint(evalLoss, extra);
    }
    return result;
  }

  /**
   * Data-parallel start (or resume): every rank takes rank 0's step, weights, EMA and optimizer moments,
   * so that all ranks start identical whatever they loaded. Runs before the first update.
   */
  async synchronize(): Promise<void> {
    const dist = this.distributed;
    this.synchronized = true;
    if (!dist) return;
    const group = dist.group;
    const step = new Float32Array([this.current, this.optimizer.stepCount, this.ema?.updates ?? 0]);
    await group.broadcast(step, 0);
    await broadcastVariables(group, [...this.student.variables.values()]);
    const opt = this.optimizer.getState();
    const names = [...opt.m.keys()];
    try {
      const moments = await broadcastTensors(group, [...names.map((n) => opt.m.get(n)!), ...names.map((n) => opt.v.get(n)!)]);
      try {
        this.optimizer.setState({ step: step[1], m: new Map(names.map((n, i) => [n, moments[i]])), v: new Map(names.map((n, i) => [n, moments[names.length + i]])) });
      } finally {
        tf.dispose(moments);
      }
    } finally {
      tf.dispose([...opt.m.values(), ...opt.v.values()]);
    }
    if (this.ema) {
      const ema = this.ema.getState();
      const emaNames = [...ema.weights.keys()];
      try {
        const weights = await broadcastTensors(group, emaNames.map((n) => ema.weights.get(n)!));
        try {
          this.ema.setState({ updates: step[2], weights: new Map(emaNames.map((n, i) => [n, weights[i]])) });
        } finally {
          tf.dispose(weights);
        }
      } finally {
        tf.dispose([...ema.weights.values()]);
      }
    }
    this.current = step[0];
    await checkParametersAgree(group, this.student.variables, this.current, 'parameters after the start-up broadcast');
  }

  /** Writes a checkpoint of the current step (also used on cancellation); keeps `best.safetensors` by `bestBy`. */
  async checkpoint(evalLoss?: number, extra?: Record<string, unknown>): Promise<string> {
    // Data-parallel: the ranks hold identical state; rank 0 alone writes it.
    if (this.distributed && this.distributed.group.rank !== 0) {
      this.lossSum = 0;
      this.lossCount = 0;
      return '';
    }
    const metrics: Record<string, number> = {};
    if (evalLoss !== undefined && Number.isFinite(evalLoss)) metrics.evalLoss = evalLoss;
    if (this.lossCount > 0) metrics.trainLoss = this.lossSum / this.lossCount;
    // The manager refuses metrics without the one that selects the best; such a checkpoint records none.
    const selecting = metrics[this.config.bestBy ?? 'evalLoss'] !== undefined;
    const result = await this.checkpoints.save({
      step: this.current, model: this.student.variables, optimizer: this.optimizer,
      ...(this.ema ? { ema: this.ema } : {}),
      ...(selecting ? { metrics } : {}),
      ...(extra ? { extra } : {}),
    });
    this.lossSum = 0;
    this.lossCount = 0;
    return result.file;
  }

  /** Copies the stage's result (the EMA weights, or the raw weights without EMA) into `target`'s variables. */
  copyResultTo(target: WeightModule): void {
    if (this.ema) this.ema.copyTo(target.variables);
    else for (const [name, v] of target.variables) v.assign(this.student.variables.get(name)!);
  }

  /** Runs `fn` with the result weights temporarily in the student (for evaluation), then restores them. */
  async withResultWeights<T>(fn: () => Promise<T> | T): Promise<T> {
    if (!this.ema) return fn();
    const saved = new Map([...this.student.variables].map(([k, v]) => [k, v.clone()]));
    try {
      this.ema.copyTo(this.student.variables);
      return await fn();
    } finally {
      for (const [k, v] of this.student.variables) v.assign(saved.get(k)!);
      tf.dispose([...saved.values()]);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}

/** The checkpoint folder of a stage inside its node's output folder. */
export function stageCheckpointDir(outDir: string, name = 'checkpoints'): string {
  return path.join(outDir, name);
}

/**
 * When a stage stops because the run was cancelled, it checkpoints the step it reached (so `--resume`
 * loses no work); other failures leave the checkpoints as they are.
 */
export async function checkpointOnCancel(trainer: StageTrainer, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted && trainer.step > 0) await trainer.checkpoint();
}
