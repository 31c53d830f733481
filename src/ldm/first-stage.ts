/**
 * The first stage: the one module for the model that maps images to the latents a diffusion model works
 * on and back.
 *
 * `FirstStage` is the contract the pipeline uses: `encode(images in [-1, 1])` returns the latents —
 * already multiplied by the latent scale factor, if the first stage has one — and `decode(latents)` undoes
 * both. Two implementations: the small autoencoder (src/models/autoencoder.ts, the embedded default) and
 * `LdmFirstStage` below, the imported latent-diffusion first stage: LatentDiffusion.get_first_stage_encoding
 * and decode_first_stage for a VQ model, i.e. latent = scale_factor · encode(x) and
 * x = decode(latent / scale_factor) (decode quantises, as VQModelInterface.decode does by default).
 * Images are NHWC in [−1, 1].
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LatentDecoder } from '../eval/evaluate';
import type { VQModel } from '../models/vq';
import { loadLdmFirstStage, readLdmModelFile } from './model-folder';

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

/** What the `ldm-first-stage` node hands over (port type `ldm-first-stage`). */
export class LdmFirstStage implements FirstStage {
  constructor(readonly vq: VQModel, readonly scaleFactor: number, readonly imageSize: number) {}

  /** Loads `<dir>/first-stage.safetensors` with the scale factor and image size of model.json. */
  static async load(dir: string): Promise<LdmFirstStage> {
    const m = readLdmModelFile(dir);
    return new LdmFirstStage(await loadLdmFirstStage(dir, m), m.scaleFactor, m.imageSize);
  }

  /** Latent channels. */
  get latentChannels(): number {
    return this.vq.config.embed_dim;
  }

  /** Images [B, H, W, 3] in [−1, 1] → latents [B, H/f, W/f, C] (scaled, not quantised). */
  encode(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const h = this.vq.encode(images);
      return this.scaleFactor === 1 ? h : tf.mul(h, this.scaleFactor);
    });
  }

  /** Latents → images in about [−1, 1] (quantised first, as the reference decode_first_stage). */
  decode(latents: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.vq.decode(this.scaleFactor === 1 ? latents : tf.div(latents, this.scaleFactor)));
  }

  dispose(): void {
    this.vq.dispose();
  }
}
