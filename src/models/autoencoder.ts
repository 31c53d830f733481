/**
 * The embedded default's first stage: a small convolutional autoencoder, images [B, H, W, in] in
 * [-1, 1] → latents [B, H/f, W/f, latent_channels] (f = 2^len(channel_mult)) and back. Plain
 * convolutions with SiLU; strided convolutions down, nearest upsampling + convolution up.
 *
 * `encode` returns scaled latents (raw · scale_factor) and `decode` takes scaled latents, as latent
 * diffusion's first stage does; `scaleFactor` is part of the config (set after training to 1/std).
 */
import * as tf from '@tensorflow/tfjs-core';
import { applySchema } from './config';
import { Conv2d, silu, upsampleNearest2x } from './layers';
import { ParamStore, ParameterizedModel } from './params';

export interface AutoencoderConfig {
  in_channels: number;
  latent_channels: number;
  /** Channels per level; one stride-2 downsampling per entry. */
  channels: number[];
  scale_factor: number;
}

export const autoencoderConfigSchema: Record<string, unknown> = {
  title: 'autoencoder config',
  type: 'object',
  additionalProperties: false,
  properties: {
    in_channels: { type: 'integer', minimum: 1, default: 1, description: 'Image channels.' },
    latent_channels: { type: 'integer', minimum: 1, default: 4, description: 'Latent channels.' },
    channels: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, default: [32, 64], description: 'Width of each level; each level halves the resolution (two levels: f = 4, 32×32 → 8×8).' },
    scale_factor: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'Latents are multiplied by it after encoding and divided by it before decoding (1/std of the raw latents gives unit variance).' },
  },
};

export class Autoencoder extends ParameterizedModel {
  readonly kind = 'autoencoder';
  private readonly cfg: AutoencoderConfig;
  private readonly seed: number;
  private readonly encoderLayers: Conv2d[] = [];
  private readonly decoderLayers: Array<{ conv: Conv2d; upsample: boolean }> = [];
  private readonly encOut: Conv2d;
  private readonly decIn: Conv2d;
  private readonly decOut: Conv2d;
  scaleFactor: number;

  constructor(config: Partial<AutoencoderConfig> = {}, options: { seed?: number } = {}) {
    const cfg = applySchema<AutoencoderConfig>('autoencoder config', autoencoderConfigSchema, config);
    const seed = options.seed ?? 0;
    const store = new ParamStore(true, seed);
    super(store);
    this.cfg = cfg;
    this.seed = seed;
    this.scaleFactor = cfg.scale_factor;
    const ch = cfg.channels;
    this.encoderLayers.push(new Conv2d(store, 'encoder.conv_in', cfg.in_channels, ch[0], 3));
    ch.forEach((c, i) => {
      const prev = i === 0 ? ch[0] : ch[i - 1];
      this.encoderLayers.push(new Conv2d(store, `encoder.down.${i}`, prev, c, 3, { stride: 2, padding: 1 }));
      this.encoderLayers.push(new Conv2d(store, `encoder.block.${i}`, c, c, 3));
    });
    this.encOut = new Conv2d(store, 'encoder.conv_out', ch[ch.length - 1], cfg.latent_channels, 3);
    this.decIn = new Conv2d(store, 'decoder.conv_in', cfg.latent_channels, ch[ch.length - 1], 3);
    for (let i = ch.length - 1; i >= 0; i--) {
      const next = i === 0 ? ch[0] : ch[i - 1];
      this.decoderLayers.push({ conv: new Conv2d(store, `decoder.block.${i}`, ch[i], ch[i], 3), upsample: false });
      this.decoderLayers.push({ conv: new Conv2d(store, `decoder.up.${i}`, ch[i], next, 3), upsample: true });
    }
    this.decOut = new Conv2d(store, 'decoder.conv_out', ch[0], cfg.in_channels, 3);
  }

  /** The config with the current scale factor (what a model file stores). */
  get config(): AutoencoderConfig {
    return { ...this.cfg, channels: [...this.cfg.channels], scale_factor: this.scaleFactor };
  }

  /** Downsampling factor f. */
  get downsampleFactor(): number {
    return 2 ** this.cfg.channels.length;
  }

  /** Raw (unscaled) latents. */
  encodeRaw(x: tf.Tensor4D): tf.Tensor4D {
    this.assertUsable();
    return tf.tidy(() => {
      let h = x;
      for (const conv of this.encoderLayers) h = silu(conv.apply(h));
      return this.encOut.apply(h);
    });
  }

  /** Images from raw latents. */
  decodeRaw(z: tf.Tensor4D): tf.Tensor4D {
    this.assertUsable();
    return tf.tidy(() => {
      let h = silu(this.decIn.apply(z));
      for (const { conv, upsample } of this.decoderLayers) h = silu(conv.apply(upsample ? upsampleNearest2x(h) : h));
      return this.decOut.apply(h);
    });
  }

  encode(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => (this.scaleFactor === 1 ? this.encodeRaw(x) : tf.mul(this.encodeRaw(x), this.scaleFactor) as tf.Tensor4D));
  }

  decode(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.decodeRaw(this.scaleFactor === 1 ? z : tf.div(z, this.scaleFactor) as tf.Tensor4D));
  }

  clone(): Autoencoder {
    this.assertUsable();
    const copy = new Autoencoder(this.config, { seed: this.seed });
    copy.copyWeightsFrom(this);
    return copy;
  }
}
