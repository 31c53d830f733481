/**
 * What data-parallel training does with tensors, on any TF.js backend: gradients are read into flat
 * float32 buckets (a few large collectives instead of one per tensor), averaged across ranks and written
 * back; rank 0's weights and optimizer state are broadcast so that every rank starts identical; a
 * checksum of the parameters is compared across ranks.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { DistributedError } from '../errors';
import type { ProcessGroup } from './process-group';

/** Bucket size of the gradient all-reduce: 25 MiB of float32, PyTorch DDP's default `bucket_cap_mb`. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/** Time and bytes spent in collectives, for the step logs and the benchmarks. */
export interface CommStats {
  calls: number;
  bytes: number;
  ms: number;
}

export function newCommStats(): CommStats {
  return { calls: 0, bytes: 0, ms: 0 };
}

/** Splits `tensors` (in order) into consecutive groups of at most `bucketBytes` (a larger tensor is a group alone). */
export function buckets<T extends { size: number }>(tensors: readonly T[], bucketBytes = DEFAULT_BUCKET_BYTES): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const t of tensors) {
    if (current.length > 0 && bytes + 4 * t.size > bucketBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += 4 * t.size;
  }
  if (current.length) out.push(current);
  return out;
}

async function flatten(tensors: readonly tf.Tensor[]): Promise<Float32Array> {
  const flat = tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(t.dtype === 'float32' ? t : tf.cast(t, 'float32'), [-1]))));
  try {
    // A copy: some backends hand out their own storage, which the collective must not write into.
    return new Float32Array((await flat.data()) as Float32Array);
  } finally {
    flat.dispose();
  }
}

function unflatten(buffer: Float32Array, like: readonly tf.Tensor[]): tf.Tensor[] {
  let offset = 0;
  return like.map((t) => {
    const part = tf.tensor(buffer.subarray(offset, offset + t.size), t.shape, 'float32');
    offset += t.size;
    return part;
  });
}

/**
 * The mean over ranks of each gradient, bucket by bucket. Returns new tensors under the same names; the
 * inputs are disposed. Every rank must pass the same names (in the same order) and shapes.
 */
export async function allReduceMeanGradients(group: ProcessGroup, grads: Map<string, tf.Tensor>, stats?: CommStats, bucketBytes = DEFAULT_BUCKET_BYTES): Promise<Map<string, tf.Tensor>> {
  const names = [...grads.keys()];
  const out = new Map<string, tf.Tensor>();
  try {
    for (const bucket of buckets(names.map((name) => ({ name, size: grads.get(name)!.size })), bucketBytes)) {
      const tensors = bucket.map((b) => grads.get(b.name)!);
      const buffer = await flatten(tensors);
      const t0 = performance.now();
      await group.allReduce(buffer, 'mean');
      if (stats) {
        stats.calls += 1;
        stats.bytes += buffer.byteLength;
        stats.ms += performance.now() - t0;
      }
      const reduced = unflatten(buffer, tensors);
      bucket.forEach((b, i) => out.set(b.name, reduced[i]));
    }
  } catch (err) {
    tf.dispose([...out.values()]);
    throw err;
  } finally {
    tf.dispose([...grads.values()]);
  }
  return out;
}

/** Rank `root`'s values of `tensors` (variables are assigned in place; returns nothing). */
export async function broadcastVariables(group: ProcessGroup, variables: readonly tf.Variable[], root = 0, bucketBytes = DEFAULT_BUCKET_BYTES): Promise<void> {
  for (const bucket of buckets(variables, bucketBytes)) {
    const buffer = await flatten(bucket);
    await group.broadcast(buffer, root);
    const values = unflatten(buffer, bucket);
    bucket.forEach((v, i) => v.assign(values[i]));
    tf.dispose(values);
  }
}

/** Rank `root`'s values of plain tensors: returns new tensors (the inputs are left alone). */
export async function broadcastTensors(group: ProcessGroup, tensors: readonly tf.Tensor[], root = 0, bucketBytes = DEFAULT_BUCKET_BYTES): Promise<tf.Tensor[]> {
  const out: tf.Tensor[] = [];
  for (const bucket of buckets(tensors, bucketBytes)) {
    const buffer = await flatten(bucket);
    await group.broadcast(buffer, root);
    out.push(...unflatten(buffer, bucket));
  }
  return out;
}

/** SHA-256 of the parameters' float32 bytes in name order: equal only if every bit is equal. */
export async function parameterDigest(variables: ReadonlyMap<string, tf.Tensor>): Promise<Buffer> {
  const hash = createHash('sha256');
  for (const name of [...variables.keys()].sort()) {
    const data = (await variables.get(name)!.data()) as Float32Array;
    hash.update(name);
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest();
}

/**
 * Compares the parameters' digest across ranks (the first 8 bytes, as four 16-bit integers, which float32
 * holds exactly). Throws DistributedError naming the step and the ranks that differ from rank 0.
 */
export async function checkParametersAgree(group: ProcessGroup, variables: ReadonlyMap<string, tf.Tensor>, step: number, what = 'parameters'): Promise<void> {
  const digest = await parameterDigest(variables);
  const mine = new Float32Array(4);
  for (let i = 0; i < 4; i++) mine[i] = digest.readUInt16BE(2 * i);
  const all = await group.allGather(mine);
  const differing: number[] = [];
  for (let r = 1; r < group.worldSize; r++) {
    for (let i = 0; i < 4; i++) {
      if (all[4 * r + i] !== all[i]) {
        differing.push(r);
        break;
      }
    }
  }
  if (differing.length > 0) {
    throw new DistributedError(`the ${what} differ across ranks at step ${step}: rank${differing.length > 1 ? 's' : ''} ${differing.join(', ')} disagree${differing.length > 1 ? '' : 's'} with rank 0`);
  }
}
