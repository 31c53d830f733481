/**
 * Named parameters and the base class of every model here.
 *
 * A parameter has a state-dict name (latent-diffusion's, for the UNet), a shape in the PyTorch layout
 * (what files hold) and a TensorFlow.js layout (what the variable holds). Layouts convert only at the
 * weight boundary (`loadWeights` / `getWeights`), so the forward pass never transposes weights:
 *
 *   layout   | PyTorch / on disk      | TensorFlow.js variable
 *   ---------|------------------------|-----------------------
 *   plain    | any                    | same
 *   linear   | [out, in]              | [in, out]
 *   conv2d   | [out, in, kh, kw]      | [kh, kw, in, out]
 *   conv1d   | [out, in, 1]           | [in, out]   (kernel-size-1 Conv1d, LDM's AttentionBlock)
 *
 * A store can also be built without allocating (`allocate: false`): it then only records names and
 * shapes, which is how the 400M-parameter cin256-v2 UNet is checked against its key list.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelError, type Problem } from '../errors';
import type { WeightModule } from './types';
import { FNV1A_OFFSET, fnv1a32, mulberry32 } from '../random';

export type ParamLayout = 'plain' | 'linear' | 'conv2d' | 'conv1d';

/** How a parameter is initialised (PyTorch's defaults, plus LDM's zero_module). */
export type ParamInit =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'uniform'; bound: number }
  | { kind: 'normal'; std: number };

/** TF.js shape of a parameter given its PyTorch shape. */
export function tfShapeOf(torchShape: readonly number[], layout: ParamLayout): number[] {
  switch (layout) {
    case 'plain':
      return torchShape.slice();
    case 'linear':
      return [torchShape[1], torchShape[0]];
    case 'conv2d':
      return [torchShape[2], torchShape[3], torchShape[1], torchShape[0]];
    case 'conv1d':
      return [torchShape[1], torchShape[0]];
  }
}

/** PyTorch → TF.js layout (a new tensor). */
export function fromTorchLayout(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  switch (layout) {
    case 'plain':
      return t.clone();
    case 'linear':
      return tf.transpose(t, [1, 0]);
    case 'conv2d':
      return tf.transpose(t, [2, 3, 1, 0]);
    case 'conv1d':
      return tf.transpose(tf.reshape(t, [t.shape[0] as number, t.shape[1] as number]), [1, 0]);
  }
}

/** TF.js → PyTorch layout (a new tensor). */
export function toTorchLayout(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  switch (layout) {
    case 'plain':
      return t.clone();
    case 'linear':
      return tf.transpose(t, [1, 0]);
    case 'conv2d':
      return tf.transpose(t, [3, 2, 0, 1]);
    case 'conv1d':
      return tf.reshape(tf.transpose(t, [1, 0]), [t.shape[1] as number, t.shape[0] as number, 1]);
  }
}

/** One named parameter. `variable` is absent in a shape-only store. */
export class Param {
  variable: tf.Variable | undefined;
  constructor(
    readonly name: string,
    readonly torchShape: readonly number[],
    readonly layout: ParamLayout,
    readonly init: ParamInit,
  ) {}

  get value(): tf.Variable {
    if (!this.variable) throw new ModelError(`parameter "${this.name}" was not allocated (shape-only model)`);
    return this.variable;
  }
}

// One independent stream per parameter: mulberry32 seeded by FNV-1a of the name from basis (offset ^ model seed).
function paramStream(name: string, seed: number): () => number {
  return mulberry32(fnv1a32(name, (FNV1A_OFFSET ^ seed) >>> 0));
}

export { mulberry32 };

/** Values of a parameter's initialisation, from a stream seeded by (model seed, parameter name). */
export function initValues(name: string, size: number, init: ParamInit, seed: number): Float32Array {
  const out = new Float32Array(size);
  switch (init.kind) {
    case 'zeros':
      return out;
    case 'ones':
      return out.fill(1);
    case 'uniform': {
      const rand = paramStream(name, seed);
      for (let i = 0; i < size; i++) out[i] = (rand() * 2 - 1) * init.bound;
      return out;
    }
    case 'normal': {
      const rand = paramStream(name, seed);
      for (let i = 0; i < size; i += 2) {
        // Box–Muller; 1 - u keeps the logarithm finite.
        const r = Math.sqrt(-2 * Math.log(1 - rand()));
        const th = 2 * Math.PI * rand();
        out[i] = r * Math.cos(th) * init.std;
        if (i + 1 < size) out[i + 1] = r * Math.sin(th) * init.std;
      }
      return out;
    }
  }
}

/** Where a model's parameters are registered, in construction order. */
export class ParamStore {
  readonly params = new Map<string, Param>();
  /** Cross-field problems found while building (group counts, head counts); see validate*Config. */
  readonly problems: Problem[] = [];

  constructor(readonly allocate: boolean, readonly seed: number) {}

  add(name: string, torchShape: readonly number[], layout: ParamLayout, init: ParamInit): Param {
    if (this.params.has(name)) throw new ModelError(`parameter "${name}" is registered twice`);
    const p = new Param(name, torchShape.slice(), layout, init);
    if (this.allocate) {
      const shape = tfShapeOf(torchShape, layout);
      const size = shape.reduce((a, b) => a * b, 1);
      const values = initValues(name, size, init, this.seed);
      p.variable = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true, `${name}#${nextVariableId++}`));
    }
    this.params.set(name, p);
    return p;
  }
}
// TF.js variable names are global; a suffix keeps clones and several models apart.
let nextVariableId = 0;

function formatShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function listNames(names: string[], max = 20): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, … and ${names.length - max} more` : shown;
}

export interface LoadWeightsOptions {
  /**
   * true (default): every parameter must be given and no other name may appear.
   * false: missing parameters keep their values and unknown names are ignored (e.g. loading a teacher
   * without a w-embedding into a w-conditioned student). Mis-shaped tensors are an error either way.
   */
  strict?: boolean;
}

/**
 * Base of the UNet, the autoencoder and the classifier: a WeightModule whose parameters live in a
 * ParamStore. Subclasses build their layers in the constructor from a validated config.
 */
export abstract class ParameterizedModel implements WeightModule {
  protected readonly store: ParamStore;
  /** Human-readable kind used in error messages, e.g. `unet`. */
  abstract readonly kind: string;
  private disposed = false;

  protected constructor(store: ParamStore) {
    this.store = store;
  }

  /** Every weight by its state-dict name, in TF.js layout. Empty for a shape-only model. */
  get variables(): ReadonlyMap<string, tf.Variable> {
    const m = new Map<string, tf.Variable>();
    for (const [name, p] of this.store.params) if (p.variable) m.set(name, p.variable);
    return m;
  }

  /** Every parameter's shape in the PyTorch (on-disk) layout, in registration order. */
  parameterShapes(): Map<string, number[]> {
    const m = new Map<string, number[]>();
    for (const [name, p] of this.store.params) m.set(name, p.torchShape.slice());
    return m;
  }

  /** Number of scalar parameters. */
  get numParameters(): number {
    let n = 0;
    for (const p of this.store.params.values()) n += p.torchShape.reduce((a, b) => a * b, 1);
    return n;
  }

  /** Whether the parameters were allocated (false for a shape-only model). */
  get allocated(): boolean {
    return this.store.allocate;
  }

  protected assertUsable(): void {
    if (this.disposed) throw new ModelError(`${this.kind} model was disposed`);
    if (!this.store.allocate) throw new ModelError(`${this.kind} model is shape-only (built with allocate: false)`);
  }

  /**
   * Copies weights in by state-dict name; tensors are in the PyTorch layout (as in safetensors files).
   * Checks everything before changing anything: one ModelError lists every missing, unexpected and
   * mis-shaped name. The caller keeps ownership of `weights`.
   */
  loadWeights(weights: Record<string, tf.Tensor>, options: LoadWeightsOptions = {}): void {
    this.assertUsable();
    const strict = options.strict ?? true;
    const missing: string[] = [];
    const misShaped: string[] = [];
    for (const [name, p] of this.store.params) {
      const t = weights[name];
      if (!t) {
        missing.push(name);
        continue;
      }
      if (t.shape.length !== p.torchShape.length || t.shape.some((d, i) => d !== p.torchShape[i])) {
        misShaped.push(`${name} (expected ${formatShape(p.torchShape)}, found ${formatShape(t.shape)})`);
      }
    }
    const unexpected = Object.keys(weights).filter((n) => !this.store.params.has(n));
    const parts: string[] = [];
    if (strict && missing.length) parts.push(`${missing.length} missing: ${listNames(missing)}`);
    if (strict && unexpected.length) parts.push(`${unexpected.length} unexpected: ${listNames(unexpected)}`);
    if (misShaped.length) parts.push(`${misShaped.length} mis-shaped: ${listNames(misShaped)}`);
    if (parts.length) {
      throw new ModelError(`cannot load weights into the ${this.kind} model (shapes in the PyTorch layout): ` +
        parts.join('; '));
    }
    for (const [name, p] of this.store.params) {
      const t = weights[name];
      if (!t) continue;
      const converted = tf.tidy(() => fromTorchLayout(t.dtype === 'float32' ? t : tf.cast(t, 'float32'), p.layout));
      p.value.assign(converted);
      converted.dispose();
    }
  }

  /** Every weight as a new tensor in the PyTorch layout, by state-dict name (the caller disposes them). */
  getWeights(): Record<string, tf.Tensor> {
    this.assertUsable();
    const out: Record<string, tf.Tensor> = {};
    for (const [name, p] of this.store.params) out[name] = tf.tidy(() => toTorchLayout(p.value, p.layout));
    return out;
  }

  /**
   * Copies another model's weights by name (e.g. EMA weights → next round's teacher). Both models must
   * be built by this library (same TF.js layouts). `strict: false` copies the names both have and
   * leaves the others (e.g. a teacher without a w-embedding into a w-conditioned student).
   */
  copyWeightsFrom(other: WeightModule, options: LoadWeightsOptions = {}): void {
    this.assertUsable();
    const strict = options.strict ?? true;
    const src = other.variables;
    const missing: string[] = [];
    const misShaped: string[] = [];
    for (const [name, p] of this.store.params) {
      const v = src.get(name);
      if (!v) {
        missing.push(name);
        continue;
      }
      const want = p.value.shape;
      if (v.shape.length !== want.length || v.shape.some((d, i) => d !== want[i])) {
        misShaped.push(`${name} (expected ${formatShape(want)}, found ${formatShape(v.shape)})`);
      }
    }
    const unexpected = [...src.keys()].filter((n) => !this.store.params.has(n));
    const parts: string[] = [];
    if (strict && missing.length) parts.push(`${missing.length} missing: ${listNames(missing)}`);
    if (strict && unexpected.length) parts.push(`${unexpected.length} unexpected: ${listNames(unexpected)}`);
    if (misShaped.length) parts.push(`${misShaped.length} mis-shaped: ${listNames(misShaped)}`);
    if (parts.length) {
      throw new ModelError(`cannot copy weights into the ${this.kind} model (shapes in the TF.js layout): ` +
        parts.join('; '));
    }
    for (const [name, p] of this.store.params) {
      const v = src.get(name);
      if (v) p.value.assign(v);
    }
  }

  /** Releases every variable. Safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.store.params.values()) {
      p.variable?.dispose();
      p.variable = undefined;
    }
  }

  get isDisposed(): boolean {
    return this.disposed;
  }
}
