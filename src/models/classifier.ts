/**
 * The embedded default's evaluator: a small convolutional image classifier. Its logits give the class
 * accuracy of generated samples; its penultimate activations (`features`) are the space in which FID
 * is computed. Three conv + SiLU + 2× average-pool levels, then a hidden linear layer (the features)
 * and the output layer.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors';
import { applySchema } from './config';
import { avgPool2x, Conv2d, Linear, silu } from './layers';
import { ParamStore, ParameterizedModel } from './params';

export interface ClassifierConfig {
  image_size: number;
  in_channels: number;
  num_classes: number;
  channels: number[];
  feature_dim: number;
}

export const classifierConfigSchema: Record<string, unknown> = {
  title: 'classifier config',
  type: 'object',
  additionalProperties: false,
  properties: {
    image_size: { type: 'integer', minimum: 1, default: 32, description: 'Input side (divisible by 2^len(channels)).' },
    in_channels: { type: 'integer', minimum: 1, default: 1, description: 'Image channels.' },
    num_classes: { type: 'integer', minimum: 1, default: 10, description: 'Classes.' },
    channels: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, default: [16, 32, 64], description: 'Width of each conv level; each level ends with a 2× average pool.' },
    feature_dim: { type: 'integer', minimum: 1, default: 64, description: 'Width of the penultimate layer: the feature space of FID.' },
  },
};

export class Classifier extends ParameterizedModel {
  readonly kind = 'classifier';
  readonly config: ClassifierConfig;
  private readonly seed: number;
  private readonly convs: Conv2d[];
  private readonly hidden: Linear;
  private readonly out: Linear;

  constructor(config: Partial<ClassifierConfig> = {}, options: { seed?: number } = {}) {
    const cfg = applySchema<ClassifierConfig>('classifier config', classifierConfigSchema, config);
    const factor = 2 ** cfg.channels.length;
    if (cfg.image_size % factor !== 0) {
      throw new ConfigError('classifier config', [{
        path: 'image_size', message: `must be divisible by ${factor} (one 2× pooling per entry of channels)`,
        found: String(cfg.image_size),
      }]);
    }
    const seed = options.seed ?? 0;
    const store = new ParamStore(true, seed);
    super(store);
    this.config = cfg;
    this.seed = seed;
    this.convs = cfg.channels.map((c, i) => new Conv2d(store, `features.${i}`, i === 0 ? cfg.in_channels : cfg.channels[i - 1], c, 3));
    const side = cfg.image_size / 2 ** cfg.channels.length;
    this.hidden = new Linear(store, 'hidden', side * side * cfg.channels[cfg.channels.length - 1], cfg.feature_dim);
    this.out = new Linear(store, 'out', cfg.feature_dim, cfg.num_classes);
  }

  /** Penultimate activations [B, feature_dim]. */
  features(x: tf.Tensor4D): tf.Tensor2D {
    this.assertUsable();
    return tf.tidy(() => {
      let h = x;
      for (const conv of this.convs) h = avgPool2x(silu(conv.apply(h)));
      return silu(this.hidden.apply(tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D));
    });
  }

  /** Class logits [B, num_classes]. */
  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.out.apply(this.features(x)));
  }

  /** Class logits from penultimate activations already computed by `features` (the evaluation needs both). */
  logitsFromFeatures(features: tf.Tensor2D): tf.Tensor2D {
    this.assertUsable();
    return this.out.apply(features);
  }

  clone(): Classifier {
    this.assertUsable();
    const copy = new Classifier(this.config, { seed: this.seed });
    copy.copyWeightsFrom(this);
    return copy;
  }
}
