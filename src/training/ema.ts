/**
 * Exponential moving average of weights: after each optimizer step,
 *
 *   ema ← decay · ema + (1 − decay) · p
 *
 * starting from a copy of the model's weights. After k updates with fixed weights p the average is
 * decay^k · ema₀ + (1 − decay^k) · p. The average is kept as plain tensors by variable name (the
 * model's state-dict names), so it can be saved in a checkpoint and copied into any module with the
 * same names — e.g. the next distillation round's teacher.
 *
 * With `warmup` the decay of the k-th update (k = 1, 2, …) follows diffusers' `EMAModel` (the seed's
 * EMA, `use_ema_warmup=False`): with n = k − 1, decay_k = 0 for n = 0 (the first update copies the
 * weights) and min(decay, (1 + n)/(10 + n)) after, so early averages are not dominated by the initial
 * weights. The count of updates is part of the state, so a resumed run continues the same sequence.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TrainingError } from '../errors';
import type { WeightModule } from '../models/types';
import { applySchema } from '../schema/check';

export interface EmaOptions {
  /** In [0, 1): 0 copies the weights at every update; the seed uses 0.995 and 0.999. */
  decay: number;
  /** diffusers' warm-up: the k-th update uses min(decay, (1 + n)/(10 + n)), n = k − 1 (0 for k = 1). Default false. */
  warmup?: boolean;
}

export interface EmaState {
  /** Number of updates applied. */
  updates: number;
  /** The averaged weights by name. */
  weights: Map<string, tf.Tensor>;
}

/** The JSON Schema of the EMA options (checked by the shared validation layer, src/schema/check.ts). */
export const emaOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['decay'],
  properties: {
    decay: { type: 'number', minimum: 0, exclusiveMaximum: 1, description: 'Decay in [0, 1): 0 copies the weights at every update.' },
    warmup: { type: 'boolean', default: false, description: 'diffusers\' EMA warm-up: the k-th update uses min(decay, (1 + n)/(10 + n)), n = k − 1.' },
  },
} as const;

/** Validates EMA options (every problem at once; unknown keys are errors); fills the defaults. */
export function checkEmaOptions(options: unknown): Required<EmaOptions> {
  return applySchema<Required<EmaOptions>>('EMA options', emaOptionsSchema, options ?? null);
}

/**
 * The decay used by the k-th update (k ≥ 1): `decay` without warm-up; with it, diffusers' EMAModel.get_decay
 * (update_after_step 0, min_decay 0): n = k − 1, 0 when n = 0, else min(decay, (1 + n)/(10 + n)).
 */
export function emaDecayAt(decay: number, warmup: boolean, k: number): number {
  if (!warmup) return decay;
  const n = k - 1;
  if (n <= 0) return 0;
  return Math.min(decay, (1 + n) / (10 + n));
}

type WeightSource = ReadonlyMap<string, tf.Tensor>;

function isWeightModule(x: unknown): x is WeightModule {
  return typeof x === 'object' && x !== null && typeof (x as WeightModule).loadWeights === 'function' &&
    (x as WeightModule).variables instanceof Map;
}

export class EmaWeights {
  readonly decay: number;
  readonly warmup: boolean;
  private avg = new Map<string, tf.Tensor>();
  private count = 0;
  private readonly source: WeightSource;
  private disposed = false;

  /** Starts as a copy of `variables`; `update()` without arguments reads the same map. */
  constructor(variables: WeightSource, options: EmaOptions) {
    const checked = checkEmaOptions(options);
    this.decay = checked.decay;
    this.warmup = checked.warmup ?? false;
    this.source = variables;
    for (const [name, p] of variables) this.avg.set(name, tf.tidy(() => tf.cast(p, 'float32').clone()));
  }

  /** Number of updates applied since construction (or as restored by setState). */
  get updates(): number {
    return this.count;
  }

  /** The averaged weights (owned by this object; valid until the next update, setState or dispose). */
  get weights(): ReadonlyMap<string, tf.Tensor> {
    return this.avg;
  }

  /** The decay the next update will use. */
  get nextDecay(): number {
    return emaDecayAt(this.decay, this.warmup, this.count + 1);
  }

  /** ema ← d·ema + (1 − d)·p for every name (d = `nextDecay`); `variables` must have exactly the tracked names. */
  update(variables: WeightSource = this.source): void {
    this.assertLive();
    this.checkFits(variables, 'weights given to EMA update');
    const d = this.nextDecay;
    for (const [name, e] of this.avg) {
      const p = variables.get(name)!;
      this.avg.set(name, tf.tidy(() => tf.add(tf.mul(e, d), tf.mul(tf.cast(p, 'float32'), 1 - d))));
      e.dispose();
    }
    this.count += 1;
  }

  /**
   * Copies the averaged weights into a module (through its `loadWeights`, strict) or into a map of
   * variables (names and shapes must match exactly).
   */
  copyTo(target: WeightModule | ReadonlyMap<string, tf.Variable>): void {
    this.assertLive();
    if (isWeightModule(target)) {
      target.loadWeights(Object.fromEntries(this.avg), { strict: true });
      return;
    }
    this.checkFits(target, 'copy target');
    for (const [name, v] of target) v.assign(this.avg.get(name)!);
  }

  /** A copy of the state (clones; the caller disposes them). */
  getState(): EmaState {
    this.assertLive();
    return { updates: this.count, weights: new Map([...this.avg].map(([k, t]) => [k, t.clone()])) };
  }

  /** Replaces the averages with copies of `state.weights` (names and shapes must match). */
  setState(state: EmaState): void {
    this.assertLive();
    if (!Number.isSafeInteger(state.updates) || state.updates < 0) {
      throw new TrainingError(`EMA state updates must be a non-negative integer, found ${state.updates}`);
    }
    this.checkFits(state.weights, 'EMA state');
    for (const [name, e] of this.avg) {
      this.avg.set(name, tf.tidy(() => tf.cast(state.weights.get(name)!, 'float32').clone()));
      e.dispose();
    }
    this.count = state.updates;
  }

  dispose(): void {
    if (this.disposed) return;
    for (const t of this.avg.values()) t.dispose();
    this.avg.clear();
    this.disposed = true;
  }

  private checkFits(other: ReadonlyMap<string, { shape: number[] }>, what: string): void {
    const problems: string[] = [];
    for (const [name, e] of this.avg) {
      const o = other.get(name);
      if (!o) problems.push(`${name}: missing`);
      else if (!tf.util.arraysEqual(o.shape, e.shape)) problems.push(`${name}: shape [${o.shape}], EMA has [${e.shape}]`);
    }
    for (const name of other.keys()) if (!this.avg.has(name)) problems.push(`${name}: not tracked by the EMA`);
    if (problems.length) throw new TrainingError(`${what} does not fit the EMA weights:\n  ${problems.join('\n  ')}`);
  }

  private assertLive(): void {
    if (this.disposed) throw new TrainingError('EMA used after dispose()');
  }
}
