/**
 * The one path that encodes images into latent shards through a first stage (latents = its encode(x),
 * scaled): `encodeToShards`. Both callers use it — the `encode-latents` node (an in-memory data set,
 * `encodeDatasetToShards`) and `distillery encode` (an ImageNet-layout folder, src/ldm/encode-folder.ts,
 * which adds a manifest and resumes by skipping complete shards).
 *
 * Shard k holds examples k·S … (k+1)·S − 1 in order, as `shard-00000.safetensors`, … with `latents`
 * [N, C, h, w] and `labels` [N] (src/io/shards.ts), each written atomically.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { eventLoopTurn } from '../event-loop';
import { CancelledError } from '../errors';
import { encodeLatents, type FirstStage } from '../ldm/first-stage';
import { writeLatentShard } from '../io/shards';
import type { ArrayDataset } from './dataset';

/** Images to encode, read a batch at a time: [count] images of `shape` [H, W, C] (NHWC, in [-1, 1]). */
export interface ImageSource {
  count: number;
  shape: [number, number, number];
  /** Pixels of images [start, end), NHWC float32. */
  images(start: number, end: number): Float32Array | Promise<Float32Array>;
  /** Labels of images [start, end). */
  labels(start: number, end: number): Int32Array;
}

export interface EncodeToShardsOptions {
  batchSize: number;
  shardSize: number;
  dtype: 'F16' | 'F32';
  signal?: AbortSignal;
  /** The CancelledError message when `signal` aborts before shard k's next batch. */
  cancelMessage?: (k: number) => string;
  /** Called after each batch with the examples encoded so far. */
  onProgress?: (done: number) => void;
  /** True: shard k (`file`, `n` examples) is already complete from an earlier run and is left as it is. */
  skipShard?: (k: number, file: string, n: number) => Promise<boolean>;
  /** Metadata of shard k, whose examples start at `start` (default none). */
  metadata?: (k: number, start: number, n: number) => Record<string, string>;
  /** Called after shard k of `numShards` is written. */
  onShard?: (file: string, k: number, numShards: number, n: number) => void;
}

export interface EncodeToShardsResult {
  files: string[];
  count: number;
  /** Per-example latent shape [h, w, C] (NHWC), as the first stage returned it (empty when every shard was skipped). */
  latentShape: number[];
  /** Standard deviation of every latent value encoded in this call (NaN when every shard was skipped). */
  std: number;
  /** Shards skipped as complete. */
  reused: number;
}

/** File name of shard k. */
export function shardFileName(k: number): string {
  return `shard-${String(k).padStart(5, '0')}.safetensors`;
}

/** Encodes every image of `source` (in order) into shards in `dir` (which must exist); see the module comment. */
export async function encodeToShards(model: FirstStage, source: ImageSource, dir: string, o: EncodeToShardsOptions): Promise<EncodeToShardsResult> {
  const n = source.count;
  const [h, w, c] = source.shape;
  const files: string[] = [];
  let latentShape: number[] = [];
  let sum = 0;
  let sumSq = 0;
  let count = 0;
  let reused = 0;
  const numShards = Math.ceil(n / o.shardSize);
  for (let shardStart = 0, k = 0; shardStart < n; shardStart += o.shardSize, k++) {
    const shardEnd = Math.min(n, shardStart + o.shardSize);
    const file = path.join(dir, shardFileName(k));
    files.push(file);
    if (o.skipShard && await o.skipShard(k, file, shardEnd - shardStart)) {
      reused++;
      continue;
    }
    const parts: Float32Array[] = [];
    for (let start = shardStart; start < shardEnd; start += o.batchSize) {
      await eventLoopTurn();
      if (o.signal?.aborted) throw new CancelledError(o.cancelMessage?.(k) ?? 'encoding cancelled');
      const end = Math.min(shardEnd, start + o.batchSize);
      const pixels = await source.images(start, end);
      const z = tf.tidy(() => encodeLatents(model, tf.tensor4d(pixels, [end - start, h, w, c])));
      latentShape = z.shape.slice(1);
      try {
        // Asynchronous read: works on WebGPU, which cannot read synchronously under Node.
        const values = await z.data() as Float32Array;
        for (const v of values) { sum += v; sumSq += v * v; }
        count += values.length;
        parts.push(Float32Array.from(values));
        o.onProgress?.(end);
      } finally {
        z.dispose();
      }
    }
    const x = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) { x.set(p, at); at += p.length; }
    await writeLatentShard(file, {
      x, shape: [shardEnd - shardStart, latentShape[0], latentShape[1], latentShape[2]], labels: source.labels(shardStart, shardEnd),
    }, { dtype: o.dtype, metadata: o.metadata?.(k, shardStart, shardEnd - shardStart) });
    o.onShard?.(file, k, numShards, shardEnd - shardStart);
  }
  const mean = sum / count;
  return { files, count: n, latentShape, std: Math.sqrt(Math.max(sumSq / count - mean * mean, 0)), reused };
}

export interface EncodeOptions {
  batchSize: number;
  shardSize: number;
  dtype: 'F16' | 'F32';
  signal?: AbortSignal;
  /** Called after each batch with the examples encoded so far. */
  onProgress?: (done: number) => void;
}

/** Encodes every example (in order) and writes `shard-00000.safetensors`, … into `dir` (replacing earlier shards). */
export async function encodeDatasetToShards(model: FirstStage, data: ArrayDataset, dir: string, o: EncodeOptions): Promise<{ files: string[]; count: number; latentShape: number[]; std: number }> {
  await fs.promises.rm(dir, { recursive: true, force: true });
  await fs.promises.mkdir(dir, { recursive: true });
  const [n, h, w, c] = data.shape;
  const per = h * w * c;
  const source: ImageSource = {
    count: n,
    shape: [h, w, c],
    images: (start, end) => data.x.subarray(start * per, end * per),
    labels: (start, end) => data.labels.slice(start, end),
  };
  const { files, count, latentShape, std } = await encodeToShards(model, source, dir, o);
  return { files, count, latentShape, std };
}
