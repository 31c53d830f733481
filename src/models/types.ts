/**
 * What samplers, losses and training stages need from a network, independent of its architecture.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** What the network output means (diffusers' names). */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/** A set of named trainable weights (latent-diffusion state-dict names for the UNet). */
export interface WeightModule {
  /** Every weight by its state-dict name, e.g. `input_blocks.1.0.in_layers.0.weight`. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** Copy values in by name; throws ModelError listing missing / unexpected / mis-shaped names. */
  loadWeights(weights: Record<string, tf.Tensor>, options?: { strict?: boolean }): void;
  dispose(): void;
}

/** A class-conditional denoiser: z_t, t, label (and optionally the guidance weight w) → prediction. */
export interface ConditionalDenoiser {
  readonly predictionType: PredictionType;
  /** Number of label embeddings, the null class included. */
  readonly numClasses: number;
  /** Label used for the unconditional pass of classifier-free guidance. */
  readonly nullClass: number;
  /** Whether `predict` takes the guidance weight w (stage-one w-conditioned student). */
  readonly takesGuidanceWeight: boolean;
  /**
   * z: [B, H, W, C] float32; t: [B] float32 (integer-valued timesteps in [0, T)); labels: [B] int32;
   * w: [B] float32 guidance weight (paper convention) for w-conditioned models.
   * Returns the raw network output, interpreted according to `predictionType`.
   */
  predict(z: tf.Tensor4D, t: tf.Tensor1D, labels: tf.Tensor1D, w?: tf.Tensor1D): tf.Tensor4D;
}
