/**
 * What the training stages need from a network: a conditional denoiser with named weights that can
 * be copied (teacher → student) and re-configured (epsilon → v, adding the w-embedding). The UNet of
 * src/models implements it; tests may use any model that does.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { ConditionalDenoiser, PredictionType, WeightModule } from '../models/types';

export interface TrainableDenoiser extends ConditionalDenoiser, WeightModule {
  /** Every weight in the on-disk (PyTorch) layout, new tensors owned by the caller. */
  getWeights(): Record<string, tf.Tensor>;
  clone(): TrainableDenoiser;
  /**
   * A copy with config overrides and every shared weight copied, e.g. `{prediction_type: 'v_prediction'}`
   * or `{guidance_embed: true}`.
   */
  cloneWith(overrides: { prediction_type?: PredictionType; guidance_embed?: boolean }): TrainableDenoiser;
  /** The model's serialisable config (stored next to its weights). */
  readonly config: unknown;
}
