/** Encoding an image data set into latent shards through a first stage (latents = its encode(x), scaled). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { eventLoopTurn } from '../event-loop';
import { CancelledError } from '../errors';
import { encodeLatents, type FirstStage } from '../eval/first-stage';
import { writeLatentShard } from '../io/shards';
import type { ArrayDataset } from './dataset';

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
  const files: string[] = [];
  let latentShape: number[] = [];
  let sum = 0;
  let sumSq = 0;
  let count = 0;
  for (let shardStart = 0, k = 0; shardStart < n; shardStart += o.shardSize, k++) {
    const shardEnd = Math.min(n, shardStart + o.shardSize);
    const parts: Float32Array[] = [];
    for (let start = shardStart; start < shardEnd; start += o.batchSize) {
      await eventLoopTurn();
      if (o.signal?.aborted) throw new CancelledError('encoding cancelled');
      const end = Math.min(shardEnd, start + o.batchSize);
      const z = tf.tidy(() => encodeLatents(model, tf.tensor4d(data.x.subarray(start * per, end * per), [end - start, h, w, c])));
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
    const file = path.join(dir, `shard-${String(k).padStart(5, '0')}.safetensors`);
    await writeLatentShard(file, { x, shape: [shardEnd - shardStart, latentShape[0], latentShape[1], latentShape[2]], labels: data.labels.slice(shardStart, shardEnd) }, { dtype: o.dtype });
    files.push(file);
  }
  const mean = sum / count;
  return { files, count: n, latentShape, std: Math.sqrt(Math.max(sumSq / count - mean * mean, 0)) };
}
