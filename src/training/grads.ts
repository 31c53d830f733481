/**
 * Named gradient maps: normalisation, global-norm clipping, and accumulation over micro-batches.
 *
 * Ownership: these functions never dispose their inputs; every tensor they return is new and belongs
 * to the caller.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TrainingError } from '../errors';
import { SQUARED_NORM_KERNEL } from '../kernels/contracts';

/** Gradients by variable name, as a plain object or a Map. */
export type GradMap = Record<string, tf.Tensor> | ReadonlyMap<string, tf.Tensor>;

/** The entries of a GradMap as a Map (same tensors, no copies). */
export function gradEntries(grads: GradMap): Map<string, tf.Tensor> {
  if (grads instanceof Map) return new Map(grads);
  return new Map(Object.entries(grads as Record<string, tf.Tensor>));
}

/**
 * Inputs per AddN kernel: WebGPU guarantees 8 storage buffers per shader stage (one is the output), and
 * TF.js's WebGPU AddN binds every input at once, so a UNet's ~130 gradients in one AddN are a validation
 * error on adapters at that minimum (llvmpipe).
 */
const ADD_N_INPUTS = 7;

// A backend's one-call Σ over tensors of Σ x²: the contract is declared in src/kernels/contracts.ts.
export { SQUARED_NORM_KERNEL };

/**
 * Σ over all gradients of Σ g² as a float32 scalar tensor (new, owned by the caller), for callers that
 * read it together with other values in one device read; an empty map gives 0. Composed: the
 * per-tensor sums are added in order, at most ADD_N_INPUTS per AddN with the running total first — the
 * same float32 additions in the same order as one AddN over all of them. On a backend with
 * SQUARED_NORM_KERNEL, one kernel call.
 */
export function squaredGlobalNorm(grads: GradMap): tf.Scalar {
  const list = [...gradEntries(grads).values()];
  if (list.length === 0) return tf.scalar(0);
  if (tf.getKernel(SQUARED_NORM_KERNEL, tf.getBackend()) && list.every((g) => g.dtype === 'float32')) {
    return tf.engine().runKernel(SQUARED_NORM_KERNEL, list as unknown as tf.NamedTensorMap) as tf.Scalar;
  }
  return tf.tidy(() => {
    const terms = list.map((g) => tf.sum(tf.square(g.dtype === 'float32' ? g : tf.cast(g, 'float32'))) as tf.Scalar);
    let total = tf.addN(terms.slice(0, ADD_N_INPUTS)) as tf.Scalar;
    for (let i = ADD_N_INPUTS; i < terms.length; i += ADD_N_INPUTS - 1) {
      total = tf.addN([total, ...terms.slice(i, i + ADD_N_INPUTS - 1)]) as tf.Scalar;
    }
    return total;
  });
}

/**
 * Global L2 norm √(Σ_tensors Σ_elements g²), read back as a number (one asynchronous device read, so
 * that it works on backends that cannot read synchronously, such as WebGPU under Node).
 */
export async function globalNorm(grads: GradMap): Promise<number> {
  if (gradEntries(grads).size === 0) return 0;
  const total = squaredGlobalNorm(grads);
  try {
    return Math.sqrt((await total.data())[0]);
  } finally {
    total.dispose();
  }
}

export interface ClipResult {
  /** The (possibly scaled) gradients: new tensors owned by the caller. */
  grads: Map<string, tf.Tensor>;
  /** The global norm before clipping. */
  norm: number;
  /** The factor applied: min(1, maxNorm / (norm + 1e-6)). */
  scale: number;
}

/** Throws TrainingError unless `maxNorm` is a positive finite number. */
export function checkMaxNorm(maxNorm: number): void {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new TrainingError(`maxNorm must be a positive finite number, found ${maxNorm}`);
  }
}

/**
 * The clipping step of `clipByGlobalNorm` for a norm already read back (e.g. by `trainStep`, which reads
 * it together with the loss): the same scale and the same new tensors.
 */
export function clipToNorm(grads: GradMap, norm: number, maxNorm: number): ClipResult {
  checkMaxNorm(maxNorm);
  const scale = Number.isFinite(norm) ? Math.min(1, maxNorm / (norm + 1e-6)) : NaN;
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of gradEntries(grads)) out.set(name, scale === 1 ? g.clone() : tf.tidy(() => tf.mul(g, scale)));
  return { grads: out, norm, scale };
}

/**
 * Global-norm clipping: when the global norm exceeds `maxNorm`, every gradient is multiplied by
 * maxNorm / (norm + 1e-6) (the 1e-6 keeps the division finite and leaves the clipped norm just below
 * maxNorm); otherwise the gradients are returned unchanged (as clones). A non-finite norm gives a
 * non-finite scale, which the caller (e.g. `trainStep`) must treat as an error. Asynchronous: it reads
 * the norm back with one device read.
 */
export async function clipByGlobalNorm(grads: GradMap, maxNorm: number): Promise<ClipResult> {
  checkMaxNorm(maxNorm);
  const entries = gradEntries(grads);
  return clipToNorm(entries, await globalNorm(entries), maxNorm);
}

/**
 * Sums gradients over k micro-batches so that one optimizer step can use their sum or mean. With
 * micro-batch losses that are means over equally sized micro-batches, `mean()` equals the gradient of
 * the mean loss over the whole batch.
 */
export class GradientAccumulator {
  private sums = new Map<string, tf.Tensor>();
  private added = 0;

  /** Number of gradient maps added since the last reset. */
  get count(): number {
    return this.added;
  }

  /** Adds one micro-batch's gradients (not disposed). The first call fixes the names and shapes. */
  add(grads: GradMap): void {
    const entries = gradEntries(grads);
    if (this.added > 0) {
      const missing = [...this.sums.keys()].filter((n) => !entries.has(n));
      const extra = [...entries.keys()].filter((n) => !this.sums.has(n));
      if (missing.length || extra.length) {
        throw new TrainingError(`gradient names differ from the first micro-batch's` +
          (missing.length ? `; missing: ${missing.join(', ')}` : '') + (extra.length ? `; unexpected: ${extra.join(', ')}` : ''));
      }
      for (const [name, g] of entries) {
        const s = this.sums.get(name)!;
        if (!tf.util.arraysEqual(s.shape, g.shape)) {
          throw new TrainingError(`gradient "${name}" has shape [${g.shape}] but earlier micro-batches had [${s.shape}]`);
        }
      }
      for (const [name, g] of entries) {
        const s = this.sums.get(name)!;
        this.sums.set(name, tf.tidy(() => tf.add(s, g)));
        s.dispose();
      }
    } else {
      for (const [name, g] of entries) this.sums.set(name, tf.tidy(() => tf.cast(g, 'float32').clone()));
    }
    this.added += 1;
  }

  /** The sum of the added gradients (new tensors). */
  sum(): Map<string, tf.Tensor> {
    this.requireSome();
    const out = new Map<string, tf.Tensor>();
    for (const [name, s] of this.sums) out.set(name, s.clone());
    return out;
  }

  /** The mean of the added gradients (new tensors). */
  mean(): Map<string, tf.Tensor> {
    this.requireSome();
    const out = new Map<string, tf.Tensor>();
    const k = this.added;
    for (const [name, s] of this.sums) out.set(name, tf.tidy(() => tf.div(s, k)));
    return out;
  }

  /** Forgets the added gradients (for the next optimizer step). */
  reset(): void {
    for (const s of this.sums.values()) s.dispose();
    this.sums.clear();
    this.added = 0;
  }

  dispose(): void {
    this.reset();
  }

  private requireSome(): void {
    if (this.added === 0) throw new TrainingError('no gradients have been accumulated');
  }
}
