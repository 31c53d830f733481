/**
 * The item type carried by `batch` streams. Tensors are NHWC inside TensorFlow.js; files on disk use
 * the PyTorch/latent-diffusion NCHW layout and are transposed at the I/O boundary.
 *
 * Ownership: a batch belongs to the stream. The runtime's `consume` disposes its tensors after every
 * consumer's handler has finished with it; a consumer that keeps a tensor longer clones it.
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface Batch {
  /** Images or latents, [B, H, W, C], float32. */
  x: tf.Tensor4D;
  /** Class labels, [B], int32 (the null class for unconditional examples). */
  labels: tf.Tensor1D;
  /** 0-based index of this batch within the stream (resume and logging). */
  index: number;
  /** Epoch this batch belongs to. */
  epoch: number;
}
