/**
 * Evaluation of class-conditional samplers (spec 5.5): draw samples for every class at a step count,
 * decode them through the first stage, and score them with a classifier trained on real data — class
 * accuracy, and FID in the classifier's penultimate feature space against held-out real images.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ConditionalDenoiser } from '../models/types';
import type { NoiseSchedule } from '../diffusion/schedule';
import { sampleDdimAsync } from '../diffusion/sampler';
import { seededNormalSource } from '../diffusion/noise';
import { eventLoopTurn } from '../event-loop';
import type { ArrayDataset } from '../data/dataset';
import { ConfigError } from '../errors';
import { featureStats, frechetDistance, type GaussianStats } from './frechet';
import type { ProcessGroup } from '../distributed/process-group';

/** What evaluation needs from a classifier: logits and penultimate features of images in [-1, 1]. */
export interface ImageScorer {
  logits(x: tf.Tensor4D): tf.Tensor2D;
  features(x: tf.Tensor4D): tf.Tensor2D;
  /** logits(x) from features(x), when the logits are a head on the features: scoring then runs the network once, not twice. */
  logitsFromFeatures?(features: tf.Tensor2D): tf.Tensor2D;
}

/** What evaluation needs from a first stage: latents → images in [-1, 1]. */
export interface LatentDecoder {
  decode(z: tf.Tensor4D): tf.Tensor4D;
}

export interface SampleOptions {
  model: ConditionalDenoiser;
  schedule: NoiseSchedule;
  steps: number;
  /** Sample with the N-step sub-sequence of this K-step schedule (how students are trained); absent: the schedule's own N-step DDIM. */
  baseSteps?: number;
  /** Guidance scale g (1 = none). For a w-conditioned model it is passed as w = g − 1. */
  guidanceScale: number;
  /** Guidance rescale φ in [0, 1] (0 = none; used only with guidance). */
  guidanceRescale?: number;
  /** DDIM eta in [0, 1] (0 = deterministic DDIM); its noise comes from the same per-batch seed. */
  eta?: number;
  /** Labels of the samples, in order. */
  labels: Int32Array;
  /** [H, W, C] of one latent. */
  latentShape: [number, number, number];
  batchSize: number;
  seed: number;
  /** Latents are decoded through it; absent: the samples are images already. */
  decoder?: LatentDecoder;
  signal?: AbortSignal;
  /** Called after every sampler step of every batch: steps done so far in this call (1-based). */
  onStep?: (done: number) => void;
  /**
   * Data-parallel run: with eta 0 rank r samples its rows of every batch (rowShard), starting from those rows
   * of the batch's z_T; with eta > 0 it samples the whole batches b ≡ r (mod K). The images are summed across
   * ranks (the others contribute zeros, so the sum is exact). Each batch's noise depends only on (seed, b), so
   * every rank ends with the images of a 1-process run — bit for bit when whole batches are dealt, up to the
   * float rounding of a smaller batch in the kernels when rows are split. `onStep` counts batch b's steps at
   * b × steps + i (the position in the whole run), so progress still ends at `samplingWork`.
   */
  group?: ProcessGroup;
}

/** Sampler steps that `sampleImages` takes for `count` labels: `steps` per batch. */
export function samplingWork(count: number, batchSize: number, steps: number): number {
  return Math.ceil(count / batchSize) * steps;
}

/** Samples decoded to images: [N, H, W, C] values (clipped to [-1, 1]) and the image shape. */
export interface SampledImages {
  images: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
}

/** Labels 0…classes−1, `perClass` each, class-major (all 0s, then all 1s …): grid rows are classes. */
export function classMajorLabels(classes: number, perClass: number): Int32Array {
  const out = new Int32Array(classes * perClass);
  for (let c = 0; c < classes; c++) out.fill(c, c * perClass, (c + 1) * perClass);
  return out;
}

/**
 * Rows [lo, hi) of a batch of `m` that rank `rank` of `world` takes: contiguous, sizes differing by at most one.
 * Splitting every batch (instead of dealing whole batches round-robin) keeps every rank busy when a cell has
 * fewer batches than there are ranks — the main job evaluates 500 samples in one batch of 500.
 */
export function rowShard(m: number, rank: number, world: number): [number, number] {
  return [Math.floor((rank * m) / world), Math.floor(((rank + 1) * m) / world)];
}

/**
 * Draws the samples batch by batch. Batch b uses seed (seed, b), so two models evaluated with the same
 * seed start from the same noise — their grids are comparable image by image. Each batch is read back
 * asynchronously (works on WebGPU, which cannot read synchronously under Node).
 */
export async function sampleImages(o: SampleOptions): Promise<SampledImages> {
  const n = o.labels.length;
  // A DistillDDIMScheduler schedule (teacherMaxTrainSteps K > 0) samples its K-step sub-sequence, as the seed's pipeline does.
  const baseSteps = o.baseSteps ?? (o.schedule.config.teacherMaxTrainSteps > 0 ? o.schedule.config.teacherMaxTrainSteps : undefined);
  if (!(o.batchSize >= 1)) throw new ConfigError('sampling', [{ path: 'batchSize', message: 'must be a positive integer', found: String(o.batchSize) }]);
  let images: Float32Array | undefined;
  let shape: [number, number, number, number] | undefined;
  const world = o.group?.worldSize ?? 1;
  const rank = o.group?.rank ?? 0;
  // Deterministic DDIM (eta 0) draws nothing after z_T: each rank then takes its rows of every batch, starting
  // from its rows of the batch's z_T (drawn whole, as a single process draws it). With eta > 0 the per-step noise
  // is drawn for the whole batch, so whole batches are dealt round-robin instead.
  const splitRows = world > 1 && !o.eta;
  for (let start = 0, b = 0; start < n; start += o.batchSize, b++) {
    if (!splitRows && b % world !== rank) continue;
    const end = Math.min(n, start + o.batchSize);
    const [lo, hi] = splitRows ? rowShard(end - start, rank, world) : [0, end - start];
    if (lo === hi) continue;
    const labels = o.labels.subarray(start + lo, start + hi);
    const guidance = o.guidanceScale === 1 && !o.model.takesGuidanceWeight ? undefined : { scale: o.guidanceScale };
    const initialNoise = splitRows ? tf.tidy(() => {
      const whole = seededNormalSource(`${o.seed}/${b}`).normal([end - start, ...o.latentShape]);
      return tf.slice(whole, [lo, 0, 0, 0], [hi - lo, -1, -1, -1]) as tf.Tensor4D;
    }) : undefined;
    let latents: tf.Tensor4D;
    try {
      latents = await sampleDdimAsync(o.model, o.schedule, {
      steps: o.steps, labels, shape: o.latentShape, seed: `${o.seed}/${b}`,
      ...(initialNoise ? { initialNoise } : {}),
      ...(guidance ? { guidance } : {}),
      ...(guidance && o.guidanceRescale ? { rescale: o.guidanceRescale } : {}),
      ...(o.eta ? { eta: o.eta } : {}),
      ...(baseSteps !== undefined ? { subsequenceOf: baseSteps } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onStep ? { onStep: (i: number) => o.onStep!(b * o.steps + i) } : {}),
      });
    } finally {
      initialNoise?.dispose();
    }
    let decoded: tf.Tensor4D;
    try {
      decoded = tf.tidy(() => tf.clipByValue(o.decoder ? o.decoder.decode(latents) : latents, -1, 1) as tf.Tensor4D);
    } finally {
      latents.dispose();
    }
    try {
      const values = await decoded.data() as Float32Array;
      if (!images) {
        shape = [n, decoded.shape[1], decoded.shape[2], decoded.shape[3]];
        images = new Float32Array(n * decoded.shape[1] * decoded.shape[2] * decoded.shape[3]);
      }
      images.set(values, (start + lo) * decoded.shape[1] * decoded.shape[2] * decoded.shape[3]);
    } finally {
      decoded.dispose();
    }
  }
  if (o.group && world > 1) {
    // Ranks without a batch (fewer batches than ranks) still join the collective, with the shape agreed first.
    const dims = new Float32Array(shape ? shape.slice(1) : [0, 0, 0]);
    const all = await o.group.allGather(dims);
    const agreed = [0, 1, 2].map((i) => Math.max(...Array.from({ length: world }, (_, r) => all[3 * r + i])));
    shape = [n, agreed[0], agreed[1], agreed[2]];
    images ??= new Float32Array(n * agreed[0] * agreed[1] * agreed[2]);
    await o.group.allReduce(images, 'sum');
  }
  return { images: images!, shape: shape!, labels: o.labels };
}

/**
 * Classifier features ([N, D] float32) and predicted classes of images, in batches (read asynchronously).
 * With a process group of K ranks, rank r scores its rows of every batch (rowShard) and the features and
 * predictions are summed across ranks in one all-reduce (the other ranks contribute exact zeros, and class
 * indices are exact in float32), so every rank ends with exactly the one-process numbers.
 */
export async function scoreImages(scorer: ImageScorer, images: Float32Array, shape: readonly [number, number, number, number], batchSize: number, group?: ProcessGroup): Promise<{ features: Float32Array; dim: number; predicted: Int32Array }> {
  const [n, h, w, c] = shape;
  const per = h * w * c;
  const world = group?.worldSize ?? 1;
  const rank = group?.rank ?? 0;
  let features: Float32Array | undefined;
  let dim = 0;
  const predicted = new Int32Array(n);
  for (let batchStart = 0; batchStart < n; batchStart += batchSize) {
    const [lo, hi] = rowShard(Math.min(batchSize, n - batchStart), rank, world);
    if (lo === hi) continue;
    const start = batchStart + lo;
    const count = hi - lo;
    await eventLoopTurn();
    const [f, p] = tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(start * per, (start + count) * per), [count, h, w, c]);
      const f = scorer.features(x);
      return [f, tf.argMax(scorer.logitsFromFeatures ? scorer.logitsFromFeatures(f) : scorer.logits(x), 1)];
    });
    if (!features) {
      dim = f.shape[1];
      features = new Float32Array(n * dim);
    }
    try {
      features.set(await f.data() as Float32Array, start * dim);
      predicted.set(await p.data() as Int32Array, start);
    } finally {
      tf.dispose([f, p]);
    }
  }
  if (group && world > 1) {
    // A rank without a batch (fewer batches than ranks) learns the feature size from the others.
    const dims = await group.allGather(new Float32Array([dim]));
    dim = Math.max(...dims);
    const buffer = new Float32Array(n * dim + n);
    if (features) buffer.set(features);
    for (let batchStart = 0; batchStart < n; batchStart += batchSize) {
      const [lo, hi] = rowShard(Math.min(batchSize, n - batchStart), rank, world);
      for (let i = batchStart + lo; i < batchStart + hi; i++) buffer[n * dim + i] = predicted[i];
    }
    await group.allReduce(buffer, 'sum');
    features = buffer.slice(0, n * dim);
    for (let i = 0; i < n; i++) predicted[i] = buffer[n * dim + i];
  }
  return { features: features!, dim, predicted };
}

/** Fraction of predictions equal to the requested labels. */
export function accuracy(predicted: Int32Array, labels: Int32Array): number {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) hits++;
  return labels.length ? hits / labels.length : NaN;
}

export interface RealReference {
  stats: GaussianStats;
  /** FID between two halves of the real held-out set: the floor a perfect sampler would reach at half the sample count. */
  halfSplitFid: number;
  accuracy: number;
}

/** Feature statistics of held-out real images, and the real-vs-real floor. */
export async function realReference(scorer: ImageScorer, real: ArrayDataset, batchSize: number, group?: ProcessGroup): Promise<RealReference> {
  const scored = await scoreImages(scorer, real.x, real.shape, batchSize, group);
  const n = real.shape[0];
  const half = Math.floor(n / 2);
  const a = featureStats(scored.features.subarray(0, half * scored.dim), half, scored.dim);
  const b = featureStats(scored.features.subarray(half * scored.dim, 2 * half * scored.dim), half, scored.dim);
  return {
    stats: featureStats(scored.features, n, scored.dim),
    halfSplitFid: frechetDistance(a, b),
    accuracy: accuracy(scored.predicted, real.labels),
  };
}

/** FID and accuracy of sampled images against a real reference (scoring sharded across `group`'s ranks). */
export async function scoreSamples(scorer: ImageScorer, samples: SampledImages, reference: RealReference, batchSize: number, group?: ProcessGroup): Promise<{ fid: number; accuracy: number }> {
  const scored = await scoreImages(scorer, samples.images, samples.shape, batchSize, group);
  const stats = featureStats(scored.features, samples.shape[0], scored.dim);
  return { fid: frechetDistance(stats, reference.stats), accuracy: accuracy(scored.predicted, samples.labels) };
}

/** The first `cols` samples of each class (class-major input) as a rows × cols grid selection. */
export function gridSelection(samples: SampledImages, classes: number, cols: number): { pixels: Float32Array; shape: [number, number, number, number] } {
  const [n, h, w, c] = samples.shape;
  const perClass = n / classes;
  const take = Math.min(cols, perClass);
  const per = h * w * c;
  const pixels = new Float32Array(classes * take * per);
  for (let r = 0; r < classes; r++) {
    pixels.set(samples.images.subarray(r * perClass * per, (r * perClass + take) * per), r * take * per);
  }
  return { pixels, shape: [classes * take, h, w, c] };
}
