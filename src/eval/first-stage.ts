/**
 * The first stage as the pipeline uses it: latents are `encode(x)·scaleFactor` and images are
 * `decode(z / scaleFactor)`, as in latent diffusion. Any model with encode/decode (the small MNIST
 * autoencoder, a VQ first stage) fits; `scaleFactor` defaults to 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LatentDecoder } from './evaluate';

export interface FirstStage {
  encode(x: tf.Tensor4D): tf.Tensor4D;
  decode(z: tf.Tensor4D): tf.Tensor4D;
  readonly scaleFactor?: number;
}

export function encodeLatents(model: FirstStage, x: tf.Tensor4D): tf.Tensor4D {
  const s = model.scaleFactor ?? 1;
  return tf.tidy(() => (s === 1 ? model.encode(x) : tf.mul(model.encode(x), s)) as tf.Tensor4D);
}

export function decodeLatents(model: FirstStage, z: tf.Tensor4D): tf.Tensor4D {
  const s = model.scaleFactor ?? 1;
  return tf.tidy(() => model.decode(s === 1 ? z : (tf.div(z, s) as tf.Tensor4D)));
}

/** A LatentDecoder over a first stage (the scale factor undone before decoding). */
export function latentDecoder(model: FirstStage): LatentDecoder {
  return { decode: (z) => decodeLatents(model, z) };
}
