/**
 * `autoencoder-training`: trains the first stage of the embedded default — the small convolutional
 * autoencoder that maps 32×32 digits to 4×8×8 latents — with the reconstruction MSE and a small L2
 * penalty on the latents. Reports the held-out reconstruction error and the latents' standard
 * deviation (its inverse is the latent scale factor).
 */
import { defineNodeType } from '../../src/registry/types';
import { autoencoderLoss, autoencoderStatistics, type TrainableAutoencoder } from './loss';
import { MODEL_PORT_TYPE } from '../../src/stage-engine/node-support';
import { trainingStageInstance } from '../../src/stage-engine/stage-node';
import { configSchema, type AutoencoderTrainingConfig } from './config';
export type { AutoencoderTrainingConfig } from './config';
import { batchStreamPort } from '../../src/registry/ports';

export const autoencoderTrainingNode = defineNodeType<AutoencoderTrainingConfig>({
  type: 'autoencoder-training',
  description: 'Train the first-stage autoencoder (reconstruction MSE + latent L2) on image batches',
  configSchema,
  inputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The autoencoder to start from (encode/decode; copied, not changed).' },
    batches: batchStreamPort('Image batches in [-1, 1].'),
    data: { kind: 'resource', type: 'dataset', optional: true, description: 'Held-out images for the evaluation loss and the final statistics.' },
  },
  outputs: {
    model: { kind: 'resource', type: MODEL_PORT_TYPE, description: 'The trained autoencoder (EMA weights); also written to model.safetensors.' },
  },
  create(ctx) {
    const c = ctx.config;
    return trainingStageInstance<TrainableAutoencoder>(ctx, {
      nodeType: 'autoencoder-training', stage: 'autoencoder', progressLabel: 'autoencoder',
      makeStudent: (model) => model.clone(),
      lossFor: (student) => autoencoderLoss(student, c.latentPenalty),
      async afterTraining(trained, data, metadata) {
        const stats = await autoencoderStatistics(trained, data.test);
        ctx.log.info(`held-out reconstruction MSE ${stats.mse.toExponential(3)}, latents [${stats.latentShape.join('×')}] std ${stats.latentStd.toFixed(4)}`);
        Object.assign(metadata, { heldOutMse: String(stats.mse), latentStd: String(stats.latentStd) });
        const scaled = trained as TrainableAutoencoder & { scaleFactor?: number };
        if (c.setScaleFactor && typeof scaled.scaleFactor === 'number' && stats.latentStd > 0) {
          scaled.scaleFactor = scaled.scaleFactor / stats.latentStd;
          ctx.log.info(`latent scale factor set to ${scaled.scaleFactor.toFixed(6)} (unit-variance latents)`);
          metadata.scaleFactor = String(scaled.scaleFactor);
        }
      },
    });
  },
});
