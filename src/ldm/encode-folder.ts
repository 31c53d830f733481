/**
 * Encoding an ImageNet-layout image folder into latent shards with an imported first stage.
 *
 * Shard k holds images k·S … (k+1)·S − 1 of the folder's fixed order (label, then file name), as
 * `shard-00000.safetensors`, … with `latents` [N, C, h, w] (NCHW) and `labels` [N] (I64), the format
 * `latent-dataset` reads, through the one encode path (src/data/encode.ts). Each shard is written
 * atomically (src/io/atomic-write.ts), and `encode.json`
 * records what the folder is an encoding of; a second run with the same inputs skips the shards that
 * are already complete, so an interrupted encode resumes where it stopped. Different inputs into the
 * same folder are refused.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { encodeToShards, shardFileName, type ImageSource } from '../data/encode';
import { readSafetensorsHeader } from '../io/safetensors';
import { LdmFirstStage } from './first-stage';
import { listImageFolder, loadImage, readClassIndex, type LabelledImage } from './imagenet-folder';
import { writeJsonAtomic } from '../io/atomic-write';

export const ENCODE_MANIFEST = 'encode.json';

export interface EncodeFolderOptions {
  /** Imported model folder. */
  model: string;
  images: string;
  classes: string;
  out: string;
  shardSize?: number;
  batchSize?: number;
  dtype?: 'F16' | 'F32';
  /** Keep the first N images of each class. */
  perClass?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface EncodeFolderResult {
  images: number;
  shards: string[];
  /** Shards found complete from an earlier run and left as they were. */
  reused: number;
  latentShape: number[];
}

interface Manifest {
  format: 'distillery-latent-shards';
  model: string;
  images: string;
  classes: string;
  imageSize: number;
  scaleFactor: number;
  shardSize: number;
  dtype: string;
  count: number;
  /** SHA-256 of the ordered (file, label) list: the same images in the same order. */
  listDigest: string;
}

async function shardComplete(file: string, n: number): Promise<boolean> {
  try {
    const h = await readSafetensorsHeader(file);
    const latents = h.entries.find((e) => e.name === 'latents');
    const labels = h.entries.find((e) => e.name === 'labels');
    return latents?.shape[0] === n && labels?.shape[0] === n;
  } catch {
    return false;
  }
}

function positive(flag: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new UsageError(`${flag} must be a positive integer (found ${v})`);
  return v;
}

/** Encodes the folder; see the module comment. */
export async function encodeImageFolder(options: EncodeFolderOptions): Promise<EncodeFolderResult> {
  const log = options.log ?? (() => undefined);
  const shardSize = positive('--shard-size', options.shardSize ?? 1000);
  const batchSize = positive('--batch-size', options.batchSize ?? 8);
  if (options.perClass !== undefined) positive('--per-class', options.perClass);
  const dtype = options.dtype ?? 'F16';
  const classes = readClassIndex(options.classes);
  const list: LabelledImage[] = listImageFolder(options.images, classes, { perClass: options.perClass });
  const first = await LdmFirstStage.load(options.model);
  try {
    const size = first.imageSize;
    const digest = createHash('sha256');
    for (const it of list) digest.update(`${path.relative(options.images, it.file)}\t${it.label}\n`);
    const manifest: Manifest = {
      format: 'distillery-latent-shards',
      model: path.resolve(options.model),
      images: path.resolve(options.images),
      classes: path.resolve(options.classes),
      imageSize: size,
      scaleFactor: first.scaleFactor,
      shardSize,
      dtype,
      count: list.length,
      listDigest: digest.digest('hex'),
    };
    await fs.promises.mkdir(options.out, { recursive: true });
    const manifestFile = path.join(options.out, ENCODE_MANIFEST);
    if (fs.existsSync(manifestFile)) {
      const old = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
      const differs = (Object.keys(manifest) as Array<keyof Manifest>).filter((k) => old[k] !== manifest[k]);
      if (differs.length) {
        throw new UsageError(`${options.out} holds shards of a different encode (${differs.join(', ')} differ); ` +
          'choose another --out, or delete that folder to start over');
      }
    } else {
      const stray = fs.readdirSync(options.out).filter((f) => f.endsWith('.safetensors'));
      if (stray.length) throw new UsageError(`${options.out} already holds ${stray.length} .safetensors files not written by encode; choose an empty --out`);
      await writeJsonAtomic(manifestFile, manifest);
    }

    const f = first.vq.downsampleFactor;
    const latentShape = [first.latentChannels, size / f, size / f];
    const source: ImageSource = {
      count: list.length,
      shape: [size, size, 3],
      images: async (start, end) => {
        const pixels = new Float32Array((end - start) * size * size * 3);
        for (let i = start; i < end; i++) pixels.set(await loadImage(list[i].file, size), (i - start) * size * size * 3);
        return pixels;
      },
      labels: (start, end) => Int32Array.from(list.slice(start, end), (it) => it.label),
    };
    const { files: shards, reused } = await encodeToShards(first, source, options.out, {
      batchSize, shardSize, dtype, signal: options.signal,
      cancelMessage: (k) => `encoding cancelled; run the same command again to resume from ${shardFileName(k)}`,
      skipShard: (_k, file, n) => shardComplete(file, n),
      metadata: (_k, start, n) => ({ source: `${path.basename(options.images)}: images ${start} … ${start + n - 1}`, scale_factor: String(first.scaleFactor) }),
      onShard: (file, k, numShards, n) => log(`wrote ${file} (${n} latents, ${k + 1}/${numShards})`),
    });
    return { images: list.length, shards, reused, latentShape };
  } finally {
    first.dispose();
  }
}
