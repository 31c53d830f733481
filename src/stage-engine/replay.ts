/**
 * The seed's replay (spec 5.4): teacher targets for a block of batches are computed once, spilled to
 * a safetensors file in the run folder, replayed for several student passes, then deleted. A block
 * file that survives a killed run is reused on resume (its content is a deterministic function of the
 * seed, the round and the block index, so recomputing it would give the same numbers).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, FileFormatError } from '../errors';
import { eventLoopTurn } from '../event-loop';
import { loadSafetensorsAsTf, writeSafetensors } from '../io/safetensors';
import { Rng } from '../training/rng';

/** One stored training example group: everything the student loss needs, no teacher call. */
export interface ReplayItem {
  /** Data latents x (for the mixed-in ordinary target loss). */
  x: tf.Tensor4D;
  eps: tf.Tensor4D;
  /** Student timestep t per example. */
  t: tf.Tensor1D;
  /** z_t. */
  z: tf.Tensor4D;
  labels: tf.Tensor1D;
  /** The distillation target x̃. */
  target: tf.Tensor4D;
  /** Guidance weight per example for w-conditioned models. */
  w?: tf.Tensor1D;
}

const FIELDS = ['x', 'eps', 't', 'z', 'labels', 'target', 'w'] as const;

export function replayBlockFile(dir: string, block: number): string {
  return path.join(dir, `block-${String(block).padStart(6, '0')}.safetensors`);
}

/** Spills a block's items; returns the file path. The items stay owned by the caller. */
export async function writeReplayBlock(dir: string, block: number, items: readonly ReplayItem[]): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  const tensors: Record<string, tf.Tensor> = {};
  items.forEach((item, j) => {
    for (const f of FIELDS) {
      const v = item[f];
      if (v) tensors[`${j}.${f}`] = v;
    }
  });
  const file = replayBlockFile(dir, block);
  await writeSafetensors(file, tensors, { items: String(items.length) }, { fsync: false });
  return file;
}

/**
 * The block's file, computing and spilling it first unless it exists (a resumed run reuses it). The targets
 * of a whole block are the longest stretch without a training step, so computing them gives the event loop
 * its turns and honours `signal` item by item. `compute(j)` makes item j (new tensors, released here).
 */
export async function ensureReplayBlock(dir: string, block: number, count: number, compute: (j: number) => ReplayItem,
  signal?: AbortSignal): Promise<string> {
  const file = replayBlockFile(dir, block);
  if (fs.existsSync(file)) return file;
  const items: ReplayItem[] = [];
  try {
    for (let j = 0; j < count; j++) {
      await eventLoopTurn();
      if (signal?.aborted) throw new CancelledError();
      items.push(compute(j));
    }
    await writeReplayBlock(dir, block, items);
  } finally {
    disposeReplayItems(items);
  }
  return file;
}

/** Reads a spilled block back (new tensors, owned by the caller). */
export async function readReplayBlock(file: string): Promise<ReplayItem[]> {
  const all = await loadSafetensorsAsTf(file);
  const count = Math.max(-1, ...Object.keys(all).map((k) => Number(k.split('.')[0]))) + 1;
  const items: ReplayItem[] = [];
  for (let j = 0; j < count; j++) {
    const get = (f: string) => all[`${j}.${f}`];
    const missing = ['x', 'eps', 't', 'z', 'labels', 'target'].filter((f) => !get(f));
    if (missing.length) {
      tf.dispose(Object.values(all));
      throw new FileFormatError(file, `replay item ${j} lacks ${missing.join(', ')}`);
    }
    items.push({
      x: get('x') as tf.Tensor4D, eps: get('eps') as tf.Tensor4D, t: get('t') as tf.Tensor1D, z: get('z') as tf.Tensor4D,
      labels: get('labels') as tf.Tensor1D, target: get('target') as tf.Tensor4D, ...(get('w') ? { w: get('w') as tf.Tensor1D } : {}),
    });
  }
  return items;
}

export function disposeReplayItems(items: readonly ReplayItem[]): void {
  for (const item of items) for (const f of FIELDS) item[f]?.dispose();
}

/** Deletes a block file (after its last replay pass). */
export async function deleteReplayBlock(file: string): Promise<void> {
  await fs.promises.rm(file, { force: true });
}

/**
 * The seed's replay order: every pass over a block draws a new permutation of all the block's examples
 * and cuts it into batches of the stored batch sizes (a shuffling DataLoader over the spilled samples).
 * The permutation is a pure function of (seed, stage, block, pass), so a resumed run replays the same
 * batches. Returns, for micro-batch j of the pass, the example indices into the block's concatenation.
 */
export function replayPassOrder(seed: number, stage: string, block: number, pass: number, sizes: readonly number[]): Int32Array[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const perm = Rng.fromSeed(seed).fork(stage).fork('replay-shuffle').fork(`${block}.${pass}`).permutation(total);
  const out: Int32Array[] = [];
  let offset = 0;
  for (const n of sizes) {
    out.push(perm.slice(offset, offset + n));
    offset += n;
  }
  return out;
}

/** The block's items concatenated along the batch axis (new tensors, owned by the caller). */
export function concatReplayItems(items: readonly ReplayItem[]): ReplayItem {
  return tf.tidy(() => {
    const cat = <T extends tf.Tensor>(f: (typeof FIELDS)[number]) => tf.concat(items.map((it) => it[f] as T)) as T;
    return {
      x: cat<tf.Tensor4D>('x'), eps: cat<tf.Tensor4D>('eps'), t: cat<tf.Tensor1D>('t'), z: cat<tf.Tensor4D>('z'),
      labels: cat<tf.Tensor1D>('labels'), target: cat<tf.Tensor4D>('target'),
      ...(items.every((it) => it.w) ? { w: cat<tf.Tensor1D>('w') } : {}),
    };
  });
}

/** The examples `indices` of a concatenated block, as one item (new tensors, owned by the caller). */
export function gatherReplayItem(all: ReplayItem, indices: Int32Array): ReplayItem {
  return tf.tidy(() => {
    const idx = tf.tensor1d(indices, 'int32');
    const g = <T extends tf.Tensor>(t: T) => tf.gather(t, idx) as T;
    return {
      x: g(all.x), eps: g(all.eps), t: g(all.t), z: g(all.z), labels: g(all.labels), target: g(all.target),
      ...(all.w ? { w: g(all.w) } : {}),
    };
  });
}

/** A copy of an item (clones share the data; the caller disposes them). */
export function cloneReplayItem(item: ReplayItem): ReplayItem {
  return {
    x: item.x.clone(), eps: item.eps.clone(), t: item.t.clone(), z: item.z.clone(), labels: item.labels.clone(), target: item.target.clone(),
    ...(item.w ? { w: item.w.clone() } : {}),
  };
}
