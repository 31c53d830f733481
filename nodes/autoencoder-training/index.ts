/**
 * `autoencoder-training`: trains the first stage of the embedded default — the small convolutional
 * autoencoder that maps 32×32 digits to 4×8×8 latents — with the reconstruction MSE and a small L2
 * penalty on the latents. Reports the held-out reconstruction error and the latents' standard
 * deviation (its inverse is the latent scale factor).
 */
import * as path from 'node:path';
import type { Observable } from 'rxjs';
import { defineNodeType, type JsonSchema } from '../../src/registry/types';
import type { Batch } from '../../src/data/batch';
import type { DatasetResource } from '../../src/data/resource';
import { runDenoisingStage, type StageHandle } from '../../src/stages/denoising';
import { autoencoderLoss, autoencoderStatistics, type TrainableAutoencoder } from '../../src/stages/supervised';
import { deferred, reuseFinishedModel, MODEL_PORT_TYPE, optimizationOf, saveModelFile, stageProgress, stageSchemaProperties, type StageNodeCommonConfig } from '../../src/stages/node-support';
import schema from './schema.json';

export interface AutoencoderTrainingConfig extends StageNodeCommonConfig {
  latentPenalty: number;
  setScaleFactor: boolean;
}

export function autoencoderTrainingConfigSchema(): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'autoencoder-training node config',
    description: 'Training a first-stage autoencoder on image batches (reconstruction MSE + latent L2 penalty).',
    type: 'object',
    additionalProperties: false,
    required: ['iterations'],
    properties: {
      latentPenalty: { type: 'number', minimum: 0, default: 1e-4, description: 'Weight of the mean squared latent added to the reconstruction MSE.' },
      setScaleFactor: { type: 'boolean', default: true, description: 'After training, set the model\'s latent scale factor (if it has one) so that held-out latents have unit standard deviation (needs the data input).' },
      ...stageSchemaProperties({ lr: 2e-3, emaDecay: 0.99, gradClip: 1, lrSchedule: 'cosine', warmupSteps: 50 }),
    },
  };
}

export const autoencoderTrainingNode = defineNodeType<AutoencoderTrainingConfig>({
  type: 'autoencoder-training',
  description: 'Train the first-stage autoencoder (reconstruction MSE + latent L2) on image batches',
  configSchema: schema as JsonSchema,
  inputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The autoencoder to start from (encode/decode; copied, not changed).' },
    batches: { kind: 'stream', type: 'batch', description: 'Image batches in [-1, 1].' },
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out images for the evaluation loss and the final statistics.' },
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The trained autoencoder (EMA weights); also written to model.safetensors.' },
  },
  create(ctx) {
    const c = ctx.config;
    const result = deferred<TrainableAutoencoder>();
    const handle: StageHandle = {};
    let trained: TrainableAutoencoder | undefined;
    return {
      resources: { model: result.promise },
      async run() {
        const student = (ctx.resources.model as TrainableAutoencoder).clone();
        const finished = await reuseFinishedModel(ctx, () => student.clone(), path.join(ctx.outDir, 'model.safetensors'));
        if (finished) {
          student.dispose();
          trained = finished;
          result.resolve(finished);
          return;
        }
        const progress = stageProgress(ctx, 'autoencoder', c.iterations, c.logEvery);
        const data = ctx.resources.data as DatasetResource | undefined;
        try {
          trained = await runDenoisingStage<TrainableAutoencoder>({
            name: 'autoencoder', student, batches: ctx.streams.batches as Observable<Batch>, optimization: optimizationOf(c),
            lossFor: autoencoderLoss(student, c.latentPenalty), seed: ctx.seed, checkpointDir: path.join(ctx.outDir, 'checkpoints'), resume: ctx.resume,
            heldOut: data?.test, evalBatches: c.evalBatches, evalBatchSize: c.evalBatchSize, signal: ctx.signal, progress: progress.report,
          }, handle);
          const metadata: Record<string, string> = { stage: 'autoencoder-training', iterations: String(c.iterations), seed: String(ctx.seed) };
          if (data) {
            const stats = await autoencoderStatistics(trained, data.test);
            ctx.log.info(`held-out reconstruction MSE ${stats.mse.toExponential(3)}, latents [${stats.latentShape.join('×')}] std ${stats.latentStd.toFixed(4)}`);
            Object.assign(metadata, { heldOutMse: String(stats.mse), latentStd: String(stats.latentStd) });
            const scaled = trained as TrainableAutoencoder & { scaleFactor?: number };
            if (c.setScaleFactor && typeof scaled.scaleFactor === 'number' && stats.latentStd > 0) {
              scaled.scaleFactor = scaled.scaleFactor / stats.latentStd;
              ctx.log.info(`latent scale factor set to ${scaled.scaleFactor.toFixed(6)} (unit-variance latents)`);
              metadata.scaleFactor = String(scaled.scaleFactor);
            }
          }
          await saveModelFile(trained, path.join(ctx.outDir, 'model.safetensors'), metadata);
          result.resolve(trained);
        } catch (err) {
          result.reject(err);
          throw err;
        } finally {
          progress.done();
          student.dispose();
        }
      },
      async saveState() {
        await handle.trainer?.checkpoint();
      },
      dispose() {
        trained?.dispose();
      },
    };
  },
});
