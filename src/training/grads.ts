/**
 * Named gradient maps: normalisation, global-norm clipping, and accumulation over micro-batches.
 *
 * Ownership: these functions never dispose their inputs; every tensor they return is new and belongs
 * to the caller.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TrainingError } from '../errors';

/** Gradients by variable name, as a plain object or a Map. */
export type GradMap = Record<string, tf.Tensor> | ReadonlyMap<string, tf.Tensor>;

/** The entries of a GradMap as a Map (same tensors, no copies). */
export function gradEntries(grads: GradMap): Map<string, tf.Tensor> {
  if (grads instanceof Map) return new Map(grads);
  return new Map(Object.entries(grads as Record<string, tf.Tensor>));
}

/** Global L2 norm √(Σ_tensors Σ_elements g²), read back as a number (one device read). */
export function globalNorm(grads: GradMap): number {
  const list = [...gradEntries(grads).values()];
  if (list.length === 0) return 0;
  const total = tf.tidy(() => tf.addN(list.map((g) => tf.sum(tf.square(tf.cast(g, 'float32'))))));
  const value = total.dataSync()[0];
  total.dispose();
  return Math.sqrt(value);
}

export interface ClipResult {
  /** The (possibly scaled) gradients: new tensors owned by the caller. */
  grads: Map<string, tf.Tensor>;
  /** The global norm before clipping. */
  norm: number;
  /** The factor applied: min(1, maxNorm / (norm + 1e-6)). */
  scale: number;
}

/**
 * Global-norm clipping: when the global norm exceeds `maxNorm`, every gradient is multiplied by
 * maxNorm / (norm + 1e-6) (the 1e-6 keeps the division finite and leaves the clipped norm just below
 * maxNorm); otherwise the gradients are returned unchanged (as clones). A non-finite norm gives a
 * non-finite scale, which the caller (e.g. `trainStep`) must treat as an error.
 */
export function clipByGlobalNorm(grads: GradMap, maxNorm: number): ClipResult {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new TrainingError(`maxNorm must be a positive finite number, found ${maxNorm}`);
  }
  const entries = gradEntries(grads);
  const norm = globalNorm(entries);
  const scale = Number.isFinite(norm) ? Math.min(1, maxNorm / (norm + 1e-6)) : NaN;
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of entries) out.set(name, scale === 1 ? g.clone() : tf.tidy(() => tf.mul(g, scale)));
  return { grads: out, norm, scale };
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
