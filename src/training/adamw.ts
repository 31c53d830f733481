/**
 * AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), with the update order of PyTorch's
 * `torch.optim.AdamW`. For each variable p with gradient g, at step t (1-based):
 *
 *   p ← p · (1 − lr · weightDecay)                       (decay, applied to the weights, not to g)
 *   m ← β1 · m + (1 − β1) · g
 *   v ← β2 · v + (1 − β2) · g²
 *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
 *
 * The optimizer works over a named variable map (state-dict names), so its state can be saved as
 * named tensors (`m.<name>`, `v.<name>`) and restored into a freshly built model.
 *
 * On a backend that registers the `DistilleryAdamW` kernel (libtorch, wasm) each variable's update is
 * that one kernel; elsewhere it is composed of about fifteen TF.js ops. Both compute the same float32
 * operations in the same order, so they give the same bits (test/training/fused-kernels.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { TrainingError } from '../errors';
import { type GradMap, gradEntries } from './grads';
import { ADAMW_KERNEL, type AdamWKernelAttrs } from '../kernels/contracts';
import { applySchema } from '../schema/check';

// The fused update kernel's contract (name, attributes, exact float32 order) is declared in src/kernels/contracts.ts.
export { ADAMW_KERNEL, type AdamWKernelAttrs };

export interface AdamWOptions {
  /** Learning rate (> 0 … used unless `step` is given another one, e.g. from an LR schedule). */
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay; default 1e-2 (PyTorch's default). */
  weightDecay?: number;
}

/** Optimizer state as named tensors. */
export interface AdamWState {
  /** Number of steps taken (t of the bias correction). */
  step: number;
  /** First moments by variable name. */
  m: Map<string, tf.Tensor>;
  /** Second moments by variable name. */
  v: Map<string, tf.Tensor>;
}

/** The JSON Schema of AdamW's options (checked by the shared validation layer, src/schema/check.ts). */
export const adamWOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['lr'],
  properties: {
    lr: { type: 'number', minimum: 0, description: 'Learning rate (≥ 0).' },
    beta1: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.9, description: 'First-moment decay, in [0, 1).' },
    beta2: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.999, description: 'Second-moment decay, in [0, 1).' },
    eps: { type: 'number', exclusiveMinimum: 0, default: 1e-8, description: 'Denominator epsilon (> 0).' },
    weightDecay: { type: 'number', minimum: 0, default: 1e-2, description: 'Decoupled weight decay (≥ 0; PyTorch\'s default 1e-2).' },
  },
} as const;

/** Validates AdamW options (every problem reported at once; unknown keys are errors); fills the defaults. */
export function checkAdamWOptions(options: unknown): Required<AdamWOptions> {
  return applySchema<Required<AdamWOptions>>('AdamW options', adamWOptionsSchema, options ?? null);
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private learningRate: number;
  private t = 0;
  private readonly vars: Map<string, tf.Variable>;
  private m = new Map<string, tf.Tensor>();
  private v = new Map<string, tf.Tensor>();
  private disposed = false;

  /** `variables` are updated in place; moments start at zero. */
  constructor(variables: ReadonlyMap<string, tf.Variable>, options: AdamWOptions) {
    const o = checkAdamWOptions(options);
    this.learningRate = o.lr;
    this.beta1 = o.beta1;
    this.beta2 = o.beta2;
    this.eps = o.eps;
    this.weightDecay = o.weightDecay;
    this.vars = new Map(variables);
    for (const [name, p] of this.vars) {
      if (p.dtype !== 'float32') throw new TrainingError(`variable "${name}" is ${p.dtype}; AdamW updates float32 variables`);
      this.m.set(name, tf.zerosLike(p));
      this.v.set(name, tf.zerosLike(p));
    }
  }

  get lr(): number {
    return this.learningRate;
  }

  set lr(value: number) {
    if (!(value >= 0) || !Number.isFinite(value)) throw new TrainingError(`learning rate must be a finite number ≥ 0, found ${value}`);
    this.learningRate = value;
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /** The optimized variables by name. */
  get variables(): ReadonlyMap<string, tf.Variable> {
    return this.vars;
  }

  /**
   * One update. Every gradient must name a known variable and have its shape; a variable without a
   * gradient is left untouched this step (no decay, moments unchanged), while the step count — and so
   * the bias correction — advances for all. Gradients are not disposed. `lr` overrides `this.lr` for
   * this step only.
   */
  step(grads: GradMap, lr: number = this.learningRate): void {
    this.assertLive();
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new TrainingError(`learning rate must be a finite number ≥ 0, found ${lr}`);
    const entries = gradEntries(grads);
    const unknown = [...entries.keys()].filter((n) => !this.vars.has(n));
    if (unknown.length) {
      throw new TrainingError(`gradients for unknown variables: ${unknown.join(', ')} (the optimizer has ${this.vars.size} variables)`);
    }
    for (const [name, g] of entries) {
      const p = this.vars.get(name)!;
      if (!tf.util.arraysEqual(p.shape, g.shape)) {
        throw new TrainingError(`gradient "${name}" has shape [${g.shape}], variable has [${p.shape}]`);
      }
    }
    this.t += 1;
    const { beta1, beta2, eps } = this;
    const biasCorrection1 = 1 - beta1 ** this.t;
    const biasCorrection2 = 1 - beta2 ** this.t;
    const stepSize = lr / biasCorrection1;
    const sqrtBias2 = Math.sqrt(biasCorrection2);
    const decay = 1 - lr * this.weightDecay;
    const fused = tf.getKernel(ADAMW_KERNEL, tf.getBackend()) !== undefined;
    const attrs: AdamWKernelAttrs = { beta1, beta2, eps, stepSize, sqrtBias2, decay };
    for (const [name, g] of entries) {
      const p = this.vars.get(name)!;
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      if (fused && g.dtype === 'float32') {
        const [pNext, mNext, vNext] = tf.engine().runKernel(ADAMW_KERNEL, { param: p, grad: g, m, v },
          attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        p.assign(pNext);
        pNext.dispose();
        m.dispose();
        v.dispose();
        this.m.set(name, mNext);
        this.v.set(name, vNext);
        continue;
      }
      const [m2, v2] = tf.tidy(() => {
        const g32 = tf.cast(g, 'float32');
        const mNext = tf.add(tf.mul(m, beta1), tf.mul(g32, 1 - beta1));
        const vNext = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g32), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(vNext), sqrtBias2), eps);
        const decayed = decay === 1 ? p : tf.mul(p, decay);
        p.assign(tf.sub(decayed, tf.mul(tf.div(mNext, denom), stepSize)));
        return [mNext, vNext];
      });
      m.dispose();
      v.dispose();
      this.m.set(name, m2);
      this.v.set(name, v2);
    }
  }

  /** A copy of the state (clones share memory until written; the caller disposes them). */
  getState(): AdamWState {
    this.assertLive();
    const clone = (src: Map<string, tf.Tensor>): Map<string, tf.Tensor> => new Map([...src].map(([k, t]) => [k, t.clone()]));
    return { step: this.t, m: clone(this.m), v: clone(this.v) };
  }

  /**
   * Replaces the state with copies of `state`'s tensors (the caller keeps ownership of its own).
   * Names must be exactly the optimizer's variables and shapes must match; every mismatch is listed.
   */
  setState(state: AdamWState): void {
    this.assertLive();
    if (!Number.isSafeInteger(state.step) || state.step < 0) {
      throw new TrainingError(`optimizer state step must be a non-negative integer, found ${state.step}`);
    }
    const problems: string[] = [];
    for (const [label, map] of [['m', state.m], ['v', state.v]] as const) {
      for (const name of this.vars.keys()) if (!map.has(name)) problems.push(`${label}.${name}: missing`);
      for (const [name, t] of map) {
        const p = this.vars.get(name);
        if (!p) problems.push(`${label}.${name}: no such variable`);
        else if (!tf.util.arraysEqual(p.shape, t.shape)) problems.push(`${label}.${name}: shape [${t.shape}], variable has [${p.shape}]`);
      }
    }
    if (problems.length) throw new TrainingError(`optimizer state does not fit the variables:\n  ${problems.join('\n  ')}`);
    for (const name of this.vars.keys()) {
      this.m.get(name)!.dispose();
      this.v.get(name)!.dispose();
      this.m.set(name, tf.tidy(() => tf.cast(state.m.get(name)!, 'float32').clone()));
      this.v.set(name, tf.tidy(() => tf.cast(state.v.get(name)!, 'float32').clone()));
    }
    this.t = state.step;
  }

  /** Disposes the moments (not the variables). */
  dispose(): void {
    if (this.disposed) return;
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
    this.m.clear();
    this.v.clear();
    this.disposed = true;
  }

  private assertLive(): void {
    if (this.disposed) throw new TrainingError('AdamW optimizer used after dispose()');
  }
}
