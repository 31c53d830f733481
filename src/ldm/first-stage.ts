/**
 * The first stage as the diffusion model sees it: LatentDiffusion.get_first_stage_encoding and
 * decode_first_stage for a VQ model, i.e. latent = scale_factor · encode(x) and x = decode(latent / scale_factor)
 * (decode quantises, as VQModelInterface.decode does by default). Images are NHWC in [−1, 1].
 */
import * as tf from '@tensorflow/tfjs-core';
import type { VQModel } from '../models/vq';
import { loadLdmFirstStage, readLdmModelFile } from './model-folder';

/** What the `ldm-first-stage` node hands over (port type `ldm-first-stage`). */
export class LdmFirstStage {
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
