/**
 * `encode-latents`: turns an image data set into latent shards through a first-stage autoencoder, so
 * that the diffusion stages stream latents, never pixels. Writes `<run>/<node>/train/shard-*.safetensors`
 * and `<run>/<node>/test/shard-*.safetensors` (and `validation/` when the data set has a validation part)
 * (`latents` [N, C, H, W], `labels` [N]); latents are what
 * the first stage's `encode` returns (scaled). A finished encoding (its `done.json`) is reused on resume.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineNodeType } from '../../src/registry/types';
import type { DatasetResource } from '../../src/data/resource';
import { encodeDatasetToShards } from '../../src/data/encode';
import { FIRST_STAGE_PORT_TYPE, type FirstStage } from '../../src/ldm/first-stage';
import type { LatentShardsResource } from '../latent-dataset';
import { configSchema, type EncodeLatentsConfig } from './config';
import { writeFileAtomicSync } from '../../src/io/atomic-write';
export type { EncodeLatentsConfig } from './config';

export const encodeLatentsNode = defineNodeType<EncodeLatentsConfig>({
  type: 'encode-latents',
  description: 'Encode an image data set into latent shards (safetensors, NCHW) through the autoencoder',
  configSchema,
  inputs: {
    data: { kind: 'resource', type: 'dataset', description: 'The image data set (its training, test and validation parts are all encoded).' },
    autoencoder: { kind: 'resource', type: FIRST_STAGE_PORT_TYPE, description: 'The first stage: encode(images in [-1, 1]) → latents (scaled, if it has a scale factor): the mnist autoencoder or an ldm-first-stage.' },
  },
  outputs: {
    shards: { kind: 'resource', type: 'latent-shards', description: 'The shard folders (for latent-dataset); resolves when written.' },
  },
  create(ctx) {
    let resolve!: (v: LatentShardsResource) => void;
    let reject!: (e: unknown) => void;
    const shards = new Promise<LatentShardsResource>((res, rej) => { resolve = res; reject = rej; });
    shards.catch(() => undefined);
    return {
      resources: { shards },
      async run() {
        try {
          const data = ctx.resources.data as DatasetResource;
          const ae = ctx.resources.autoencoder as FirstStage;
          const done = path.join(ctx.outDir, 'done.json');
          const parts = (['train', 'test', 'validation'] as const).filter((p) => data[p] !== undefined);
          const out: LatentShardsResource = {
            train: path.join(ctx.outDir, 'train'), test: path.join(ctx.outDir, 'test'),
            ...(data.validation ? { validation: path.join(ctx.outDir, 'validation') } : {}), numClasses: data.numClasses,
          };
          if (ctx.resume && fs.existsSync(done)) {
            ctx.log.info('latent shards already written; reusing them');
          } else {
            const c = ctx.config;
            const progress = ctx.progress('encode', parts.reduce((n, p) => n + data[p]!.shape[0], 0));
            let before = 0;
            try {
              for (const part of parts) {
                const info = await encodeDatasetToShards(ae, data[part]!, (out as unknown as Record<string, string>)[part], {
                  batchSize: c.batchSize, shardSize: c.shardSize, dtype: c.dtype, signal: ctx.signal, onProgress: (n) => progress.update(before + n),
                });
                before += data[part]!.shape[0];
                ctx.log.info(`${part}: ${info.count} latents [${info.latentShape.join('×')}] (HWC) in ${info.files.length} shard(s), std ${info.std.toFixed(4)}`);
              }
            } finally {
              progress.done();
            }
            writeFileAtomicSync(done, JSON.stringify({ ...out, writtenAt: new Date().toISOString() }, null, 2) + '\n');
          }
          resolve(out);
        } catch (err) {
          reject(err);
          throw err;
        }
      },
    };
  },
});
