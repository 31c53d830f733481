/**
 * The first stage as the pipeline uses it: `encode(images in [-1, 1])` returns the latents the
 * diffusion model works on — already multiplied by the latent scale factor, if the first stage has
 * one — and `decode(latents)` undoes both. This is the contract of the imported latent-diffusion first
 * stage (src/ldm/first-stage.ts) and of the embedded default's autoencoder.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LatentDecoder } from './evaluate';

export interface FirstStage {
  encode(x: tf.Tensor4D): tf.Tensor4D;
  decode(z: tf.Tensor4D): tf.Tensor4D;
}

/** Port type of first-stage inputs: any object with encode/decode (the small autoencoder, an LDM first stage). */
export const FIRST_STAGE_PORT_TYPE = 'any';

export function encodeLatents(model: FirstStage, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => model.encode(x));
}

export function decodeLatents(model: FirstStage, z: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => model.decode(z));
}

/** A LatentDecoder over a first stage. */
export function latentDecoder(model: FirstStage): LatentDecoder {
  return { decode: (z) => decodeLatents(model, z) };
}
