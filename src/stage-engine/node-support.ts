/**
 * What the training-stage node types share: progress reporting, writing a model file next to its
 * config, the promise-valued model output (so later stages in the same graph wait for it), and the
 * common config keys.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { NodeContext } from '../registry/types';
import { loadSafetensorsAsTf, writeSafetensors } from '../io/safetensors';
import { LOSS_WEIGHTINGS, lossWeightingDescription, type LossWeighting } from './common';
import { optimizationSchemaProperties, type OptimizationConfig } from './trainer';
import type { StageProgress } from './denoising';
import type { WeightModule } from '../models/types';
import type { ValidationConfig } from './validation';
import { Enum, Type } from '../schema/typebox';
import type { TUnsafe } from '@sinclair/typebox';
import { writeFileAtomic } from '../io/atomic-write';

/** Resource type of model ports. */
export const MODEL_PORT_TYPE = 'model';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export interface StageProgressHandle {
  report: StageProgress;
  /** An evaluation loss at a step: logged at once (logs.jsonl) and shown on the progress line from then on. */
  evaluation(step: number, evalLoss: number, extra?: Record<string, number>): void;
  done(): void;
}

/**
 * Progress bar updates every step; metrics logged every `logEvery` steps and at the end. `logged` may add
 * keys to what is logged (not to the progress display), e.g. stage two's per-round copies.
 */
export function stageProgress(ctx: NodeContext<unknown>, label: string, total: number, logEvery: number,
  logged: (values: Record<string, number>) => Record<string, number> = (v) => v): StageProgressHandle {
  const handle = ctx.progress(label, total);
  const started = Date.now();
  let lastEval: number | undefined;
  const logs = (step: number, all: number): boolean => logEvery > 0 && (step % logEvery === 0 || step === all);
  const report: StageProgress = Object.assign((step: number, all: number, metrics: Record<string, number>, loggedOnly: Record<string, number> = {}) => {
    const elapsed = (Date.now() - started) / 1000;
    const values = { ...metrics, stepsPerSecond: elapsed > 0 ? step / elapsed : 0 };
    handle.update(step, lastEval !== undefined ? { ...values, evalLoss: lastEval } : values);
    if (logs(step, all)) ctx.log.metrics(step, logged({ ...values, ...loggedOnly }));
  }, { logs });
  const evaluation = (step: number, evalLoss: number, extra: Record<string, number> = {}): void => {
    if (!Number.isFinite(evalLoss)) return;
    lastEval = evalLoss;
    ctx.log.metrics(step, { ...extra, evalLoss });
  };
  return { report, evaluation, done: () => handle.done() };
}

/** Writes a model's weights (PyTorch layout) with its config in the metadata and in `<name>.json`. */
export async function saveModelFile(model: WeightModule & { getWeights(): Record<string, tf.Tensor>; config: unknown }, file: string,
  metadata: Record<string, string> = {}): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const weights = model.getWeights();
  try {
    await writeSafetensors(file, weights, { ...metadata, config: JSON.stringify(model.config) });
  } finally {
    tf.dispose(Object.values(weights));
  }
  await writeFileAtomic(file.replace(/\.safetensors$/, '.json'), JSON.stringify({ config: model.config, ...metadata }, null, 2) + '\n');
}

export interface StageNodeCommonConfig extends OptimizationConfig {
  evalBatches: number;
  evalBatchSize: number;
  logEvery: number;
  /** Validation grids (the denoising stages; absent on autoencoder and classifier training). */
  validation?: ValidationConfig;
}

/** Config schema properties (TypeBox) every training-stage node has. */
export function stageSchemaProperties(defaults: Partial<OptimizationConfig> & { logEvery?: number } = {}) {
  return {
    ...optimizationSchemaProperties(defaults),
    evalBatches: Type.Integer({ minimum: 0, default: 4, description: 'Held-out batches of the evaluation loss (needs the data input; 0 disables it): from the data\'s validation part when it has one, else its test part. Selects the best checkpoint.' }),
    evalBatchSize: Type.Integer({ minimum: 1, default: 64, description: 'Examples per held-out batch.' }),
    logEvery: Type.Integer({ minimum: 0, default: defaults.logEvery ?? 100, description: 'Log loss, learning rate and speed every this many steps (0: only the progress display).' }),
  };
}

/** A loss-weighting key; its description names exactly the `allowed` values (`targetSpace`: what target_* weigh). */
export function lossWeightingSchema<const A extends readonly LossWeighting[] = typeof LOSS_WEIGHTINGS>(defaultValue: A[number], allowed: A = LOSS_WEIGHTINGS as unknown as A, targetSpace?: string): TUnsafe<A[number]> {
  return Enum(allowed, { default: defaultValue, description: lossWeightingDescription(allowed, targetSpace) });
}

export const NOISE_OFFSET_SCHEMA = Type.Number({ minimum: 0, default: 0, description: 'The seed\'s --noise_offset: the training noise gets offset · n added, n ~ N(0, 1) per example and channel (constant over the image); 0 = plain Gaussian noise.' });

export const MIN_SNR_GAMMA_SCHEMA = Type.Number({ exclusiveMinimum: 0, default: 5, description: 'γ of the min_snr and target_min_snr weightings (the seed\'s --snr_gamma).' });

/** The OptimizationConfig part of a stage node's config. */
export function optimizationOf(c: OptimizationConfig): OptimizationConfig {
  return {
    iterations: c.iterations, accumulation: c.accumulation, lr: c.lr, lrSchedule: c.lrSchedule, warmupSteps: c.warmupSteps, lrCycles: c.lrCycles, lrEnd: c.lrEnd, lrPower: c.lrPower,
    weightDecay: c.weightDecay, beta1: c.beta1, beta2: c.beta2, adamEpsilon: c.adamEpsilon, gradClip: c.gradClip,
    emaDecay: c.emaDecay, emaWarmup: c.emaWarmup, checkpointEvery: c.checkpointEvery, keepLast: c.keepLast, evalEvery: c.evalEvery, scaleLr: c.scaleLr,
    ...(c.bestBy ? { bestBy: c.bestBy } : {}),
  };
}

/**
 * On `--resume`, a stage whose model file was already written is not trained again: its weights are
 * loaded into a fresh copy of the right configuration (`makeStudent`), which is returned. Otherwise undefined.
 */
export async function reuseFinishedModel<T extends WeightModule>(ctx: NodeContext<unknown>, makeStudent: () => T, file: string): Promise<T | undefined> {
  if (!ctx.resume || !fs.existsSync(file)) return undefined;
  const weights = await loadSafetensorsAsTf(file);
  const student = makeStudent();
  try {
    student.loadWeights(weights);
  } catch (err) {
    student.dispose();
    throw err;
  } finally {
    tf.dispose(Object.values(weights));
  }
  ctx.log.info(`already trained: ${path.relative(ctx.runDir, file)} loaded`);
  return student;
}
