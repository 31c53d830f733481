/**
 * Latent shards: safetensors files holding `latents` [N, C, H, W] (F16 or F32, the latent-diffusion
 * layout) and `labels` [N] (I64 or I32) — the format in which users bring their own latent data sets
 * (e.g. ImageNet encoded by a first stage). In memory latents are NHWC float32.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileFormatError } from '../errors';
import { readSafetensors, writeSafetensors } from './safetensors';

/** NHWC → NCHW copy. */
export function nhwcToNchw(x: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
    out[((i * c + ch) * h + y) * w + xx] = x[((i * h + y) * w + xx) * c + ch];
  }
  return out;
}

/** NCHW → NHWC copy. */
export function nchwToNhwc(x: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) {
    out[((i * h + y) * w + xx) * c + ch] = x[((i * c + ch) * h + y) * w + xx];
  }
  return out;
}

/**
 * One shard's contents in memory: latents [N, H, W, C] (NHWC, float32) with integer labels [N]. The same
 * shape as src/data's ArrayDataset, declared here so that file formats import nothing above them.
 */
export interface LatentArrays {
  x: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
}

export interface ShardWriteOptions {
  /** On-disk dtype of the latents (default F16, as latent data sets usually ship). */
  dtype?: 'F16' | 'F32';
  metadata?: Record<string, string>;
}

/** Writes one shard from NHWC latents; labels are stored as I64. */
export async function writeLatentShard(file: string, data: LatentArrays, options: ShardWriteOptions = {}): Promise<void> {
  const [n, h, w, c] = data.shape;
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await writeSafetensors(file, {
    latents: { dtype: options.dtype ?? 'F16', shape: [n, c, h, w], data: nhwcToNchw(data.x, data.shape) },
    labels: { dtype: 'I64', shape: [n], data: data.labels },
  }, options.metadata ?? {});
}

/** The shard files a path names: the file itself, or every `*.safetensors` in a folder, sorted by name. */
export function listShardFiles(location: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(location);
  } catch (err) {
    throw new FileFormatError(location, `latent shards not found: ${(err as Error).message}`, { cause: err });
  }
  if (stat.isFile()) return [location];
  const files = fs.readdirSync(location).filter((f) => f.endsWith('.safetensors')).sort().map((f) => path.join(location, f));
  if (files.length === 0) throw new FileFormatError(location, 'folder holds no *.safetensors latent shards');
  return files;
}

/** Reads one shard into NHWC float32 latents and int32 labels, checking names, ranks and sizes. */
export async function readLatentShard(file: string): Promise<LatentArrays> {
  const st = await readSafetensors(file);
  const latents = st.tensors.get('latents');
  const labels = st.tensors.get('labels');
  const names = [...st.tensors.keys()].join(', ') || 'none';
  if (!latents) throw new FileFormatError(file, `latent shard has no tensor "latents" (found: ${names})`);
  if (!labels) throw new FileFormatError(file, `latent shard has no tensor "labels" (found: ${names})`);
  if (latents.shape.length !== 4) throw new FileFormatError(file, `"latents" must be [N, C, H, W], found [${latents.shape.join(', ')}]`);
  if (!['F16', 'F32', 'BF16'].includes(latents.dtype)) throw new FileFormatError(file, `"latents" must be F16 or F32, found ${latents.dtype}`);
  if (labels.shape.length !== 1 || labels.shape[0] !== latents.shape[0]) {
    throw new FileFormatError(file, `"labels" must be [${latents.shape[0]}] (one per latent), found [${labels.shape.join(', ')}]`);
  }
  if (!['I64', 'I32', 'U8'].includes(labels.dtype)) throw new FileFormatError(file, `"labels" must be an integer tensor, found ${labels.dtype}`);
  const [n, c, h, w] = latents.shape;
  return { x: nchwToNhwc(latents.data, latents.shape), shape: [n, h, w, c], labels: Int32Array.from(labels.data) };
}

/** Reads every shard a path names and concatenates them; all shards must agree on C, H, W. */
export async function readLatentShards(location: string, limit?: number): Promise<LatentArrays> {
  const parts: LatentArrays[] = [];
  let total = 0;
  for (const file of listShardFiles(location)) {
    if (limit !== undefined && total >= limit) break;
    const part = await readLatentShard(file);
    if (parts.length && part.shape.slice(1).join() !== parts[0].shape.slice(1).join()) {
      throw new FileFormatError(file, `latent shape [${part.shape.slice(1).join(', ')}] (NHWC) differs from the first shard's [${parts[0].shape.slice(1).join(', ')}]`);
    }
    parts.push(part);
    total += part.shape[0];
  }
  const n = limit !== undefined ? Math.min(total, limit) : total;
  const [, h, w, c] = parts[0].shape;
  const per = h * w * c;
  const x = new Float32Array(n * per);
  const labels = new Int32Array(n);
  let at = 0;
  for (const part of parts) {
    const take = Math.min(part.shape[0], n - at);
    x.set(part.x.subarray(0, take * per), at * per);
    labels.set(part.labels.subarray(0, take), at);
    at += take;
  }
  return { x, shape: [n, h, w, c], labels };
}
