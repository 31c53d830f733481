/**
 * The seed's replay (spec 5.4): teacher targets for a block of batches are computed once, spilled to
 * a safetensors file in the run folder, replayed for several student passes, then deleted. A block
 * file that survives a killed run is reused on resume (its content is a deterministic function of the
 * seed, the round and the block index, so recomputing it would give the same numbers).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { FileFormatError } from '../errors';
import { loadSafetensorsAsTf, writeSafetensors } from '../io/safetensors';

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
