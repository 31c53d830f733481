/**
 * In-memory labelled data sets (images or latents) as plain typed arrays, and the seeded batch plan
 * every data node uses: shuffling, batching, label dropout to the null class, an epoch / step budget
 * and a resumable position. No tensors live here: nodes turn planned batches into tensors.
 */
import { ConfigError, type Problem } from '../errors';
import { mixSeed, seededPermutation, uniformGenerator } from './random';

/** Examples [N, H, W, C] (NHWC, float32) with integer labels [N]. */
export interface ArrayDataset {
  x: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
}

/** Checks that the arrays agree with the shape; throws ConfigError listing every disagreement. */
export function checkDataset(ds: ArrayDataset, what = 'data set'): ArrayDataset {
  const [n, h, w, c] = ds.shape;
  const problems: Problem[] = [];
  if (ds.x.length !== n * h * w * c) {
    problems.push({ path: 'x', message: 'value count does not match the shape', expected: `${n * h * w * c} ([${ds.shape.join(', ')}])`, found: String(ds.x.length) });
  }
  if (ds.labels.length !== n) problems.push({ path: 'labels', message: 'one label per example', expected: String(n), found: String(ds.labels.length) });
  if (problems.length) throw new ConfigError(what, problems);
  return ds;
}

/** Number of examples. */
export function datasetSize(ds: ArrayDataset): number {
  return ds.shape[0];
}

/** Copies the examples at `indices` (in that order) into a new data set. */
export function subsetDataset(ds: ArrayDataset, indices: ArrayLike<number>): ArrayDataset {
  const [, h, w, c] = ds.shape;
  const per = h * w * c;
  const x = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    x.set(ds.x.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = ds.labels[j];
  }
  return { x, shape: [indices.length, h, w, c], labels };
}

/**
 * A seeded split into a held-out test part of `heldOut` examples, an optional validation part of `validation`
 * examples and a training part: one seeded permutation, test = its first `heldOut` indices, validation = the
 * next `validation`, training = the rest (so adding a validation part drawn from an old test part keeps the
 * training part unchanged when heldOut + validation equals the old heldOut).
 */
export function splitDataset(ds: ArrayDataset, heldOut: number, seed: number, validation = 0): { train: ArrayDataset; test: ArrayDataset; validation?: ArrayDataset } {
  const n = datasetSize(ds);
  if (!Number.isInteger(heldOut) || heldOut < 0 || heldOut >= n) {
    throw new ConfigError('data split', [{ path: 'testSize', message: 'held-out size must leave training examples', expected: `an integer in [0, ${n})`, found: String(heldOut) }]);
  }
  if (!Number.isInteger(validation) || validation < 0 || heldOut + validation >= n) {
    throw new ConfigError('data split', [{ path: 'validationSize', message: 'test and validation sizes together must leave training examples', expected: `an integer in [0, ${n - heldOut})`, found: String(validation) }]);
  }
  const perm = seededPermutation(n, mixSeed(seed, 0x5917));
  const end = heldOut + validation;
  return {
    test: subsetDataset(ds, perm.subarray(0, heldOut)), train: subsetDataset(ds, perm.subarray(end)),
    ...(validation > 0 ? { validation: subsetDataset(ds, perm.subarray(heldOut, end)) } : {}),
  };
}

export interface BatchPlanOptions {
  batchSize: number;
  /** Seed of the shuffle and of the label dropout. */
  seed: number;
  /** Reshuffle every epoch (default true); false keeps the stored order. */
  shuffle?: boolean;
  /** Probability that a label is replaced by `nullClass` (classifier-free guidance training). */
  labelDropout?: number;
  nullClass?: number;
  /** Keep the last, smaller batch of an epoch (default false: every batch has batchSize examples). */
  keepLastPartial?: boolean;
  /** Stop after this many batches in total (counted from batch 0, not from startBatch). */
  maxBatches?: number;
  /** Stop after this many epochs. At least one of maxBatches / epochs bounds the stream unless `repeat`. */
  epochs?: number;
  /** Resume position: the first batch index to produce. */
  startBatch?: number;
  /**
   * Data-parallel shard: the plan is made for the global batch (batchSize × worldSize, same shuffle,
   * same label dropout draws) and this rank keeps positions [rank·batchSize, (rank+1)·batchSize) of
   * each global batch, so K ranks together see exactly the batches of one process with K× the batch.
   */
  shard?: { rank: number; worldSize: number };
}

/** One planned batch: the example indices and labels (after dropout) of batch `index`. */
export interface PlannedBatch {
  index: number;
  epoch: number;
  indices: Int32Array;
  labels: Int32Array;
}

/** Batches per epoch for a data set of n examples. */
export function batchesPerEpoch(n: number, batchSize: number, keepLastPartial = false): number {
  return keepLastPartial ? Math.ceil(n / batchSize) : Math.floor(n / batchSize);
}

function checkPlan(n: number, o: BatchPlanOptions): void {
  const problems: Problem[] = [];
  const world = o.shard?.worldSize ?? 1;
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) problems.push({ path: 'batchSize', message: 'batch size must be a positive integer', found: String(o.batchSize) });
  else if (o.batchSize * world > n && !o.keepLastPartial) {
    problems.push({ path: 'batchSize', message: world > 1 ? `the global batch (batch size × ${world} processes) exceeds the number of examples` : 'batch size exceeds the number of examples', expected: `≤ ${n}`, found: String(o.batchSize * world) });
  }
  const p = o.labelDropout ?? 0;
  if (!(p >= 0 && p <= 1)) problems.push({ path: 'labelDropout', message: 'label dropout is a probability', expected: 'a number in [0, 1]', found: String(p) });
  if (p > 0 && o.nullClass === undefined) problems.push({ path: 'nullClass', message: 'label dropout needs the null class', expected: 'an integer label' });
  if (problems.length) throw new ConfigError('batch plan', problems);
}

/**
 * Plans batches lazily: batch k of the stream belongs to epoch floor(k / B) (B batches per epoch) and
 * takes positions (k mod B)·batchSize … of that epoch's permutation, which depends only on (seed, epoch).
 */
export function* planBatches(ds: ArrayDataset, options: BatchPlanOptions): Generator<PlannedBatch> {
  const n = datasetSize(ds);
  checkPlan(n, options);
  const { seed } = options;
  const world = options.shard?.worldSize ?? 1;
  const rank = options.shard?.rank ?? 0;
  const batchSize = options.batchSize * world;
  const perEpoch = batchesPerEpoch(n, batchSize, options.keepLastPartial);
  const limit = Math.min(options.maxBatches ?? Infinity, options.epochs !== undefined ? options.epochs * perEpoch : Infinity);
  const p = options.labelDropout ?? 0;
  let cachedEpoch = -1;
  let perm: Int32Array = new Int32Array(0);
  for (let k = options.startBatch ?? 0; k < limit; k++) {
    const epoch = Math.floor(k / perEpoch);
    if (epoch !== cachedEpoch) {
      perm = options.shuffle === false ? Int32Array.from({ length: n }, (_, i) => i) : seededPermutation(n, mixSeed(seed, epoch, 0xda7a));
      cachedEpoch = epoch;
    }
    const start = (k % perEpoch) * batchSize;
    const globalIndices = perm.slice(start, Math.min(start + batchSize, n));
    const globalLabels = new Int32Array(globalIndices.length);
    const drop = p > 0 ? uniformGenerator(mixSeed(seed, k, 0x1abe1)) : undefined;
    for (let i = 0; i < globalIndices.length; i++) {
      globalLabels[i] = drop && drop() < p ? options.nullClass! : ds.labels[globalIndices[i]];
    }
    if (world === 1) {
      yield { index: k, epoch, indices: globalIndices, labels: globalLabels };
    } else {
      const from = Math.min(rank * options.batchSize, globalIndices.length);
      const to = Math.min(from + options.batchSize, globalIndices.length);
      yield { index: k, epoch, indices: globalIndices.slice(from, to), labels: globalLabels.slice(from, to) };
    }
  }
}

/** Gathers the example values of a planned batch into one [b, H, W, C] array. */
export function gatherExamples(ds: ArrayDataset, indices: ArrayLike<number>): Float32Array {
  const [, h, w, c] = ds.shape;
  const per = h * w * c;
  const out = new Float32Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) out.set(ds.x.subarray(indices[i] * per, (indices[i] + 1) * per), i * per);
  return out;
}
