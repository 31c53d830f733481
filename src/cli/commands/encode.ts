/**
 * `distillery encode --model <imported folder> --images <ImageNet-layout folder> --classes <mapping> --out <folder>`:
 * images → latent shards with the imported first stage (src/ldm/encode-folder.ts); resumable.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors';
import { encodeImageFolder } from '../../ldm/encode-folder';
import { EXIT_OK, type CliIO } from '../io';

export interface EncodeCommandOptions {
  model: string;
  images: string;
  classes: string;
  out: string;
  shardSize: string;
  batchSize: string;
  dtype: string;
  perClass?: string;
}

function integer(flag: string, v: string): number {
  if (!/^\s*\d+\s*$/.test(v)) throw new UsageError(`${flag} must be a positive integer (found ${JSON.stringify(v)})`);
  return Number(v);
}

/** Adds `encode`. */
export function registerEncodeCommand(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  return program
    .command('encode')
    .description('encode an image folder in ImageNet\'s layout (one sub-folder per class) into latent shards with an imported first stage; resumable')
    .requiredOption('--model <folder>', 'model folder written by "distillery import ldm"')
    .requiredOption('--images <folder>', 'image root: <folder>/<class folder>/<image>.JPEG|.png')
    .requiredOption('--classes <file>', 'class-index mapping: LOC_synset_mapping.txt (line i = class i) or imagenet_class_index.json')
    .requiredOption('--out <folder>', 'shard folder (shard-00000.safetensors …, encode.json); re-running the same command resumes')
    .option('--shard-size <N>', 'latents per shard', '1000')
    .option('--batch-size <N>', 'images per first-stage call', '8')
    .option('--dtype <F16|F32>', 'on-disk latent dtype', 'F16')
    .option('--per-class <N>', 'encode only the first N images (by name) of each class')
    .action(async (o: EncodeCommandOptions) => {
      if (o.dtype !== 'F16' && o.dtype !== 'F32') throw new UsageError(`--dtype must be F16 or F32 (found ${JSON.stringify(o.dtype)})`);
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      if (io.handleSignals) {
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }
      try {
        const r = await encodeImageFolder({
          model: o.model, images: o.images, classes: o.classes, out: o.out,
          shardSize: integer('--shard-size', o.shardSize), batchSize: integer('--batch-size', o.batchSize), dtype: o.dtype,
          perClass: o.perClass !== undefined ? integer('--per-class', o.perClass) : undefined,
          signal: controller.signal, log: (l) => io.err(l + '\n'),
        });
        io.out(`encoded ${r.images} images into ${r.shards.length} shard${r.shards.length === 1 ? '' : 's'} in ${o.out} ` +
          `(latents [${r.latentShape.join(', ')}]${r.reused ? `; ${r.reused} complete shard${r.reused === 1 ? '' : 's'} from an earlier run kept` : ''})\n`);
        setExit(EXIT_OK);
      } finally {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
      }
    });
}
