/**
 * latent-diffusion's ClassEmbedder (`cond_stage_config` of class-conditional models): an nn.Embedding of
 * the class labels whose row becomes the cross-attention context, [B] labels → [B, 1, embed_dim].
 * The last class (n_classes − 1, 1000 for ImageNet's 1001) is the unconditional label of classifier-free
 * guidance in the cin models. State-dict name: `embedding.weight` (`cond_stage_model.embedding.weight`
 * in a full latent-diffusion state dict).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../errors';
import { applySchema, type SameShape } from './config';
import type { LdmClassEmbedderParams } from '../io/ldm-model-params';
import { Embedding } from './layers';
import { ParameterizedModel, ParamStore } from './params';

/** The embedder's config schema (cond_stage_config.params of an LDM YAML). */
export const classEmbedderConfigSchema: Record<string, unknown> = {
  title: 'class embedder config',
  description: "latent-diffusion's ClassEmbedder parameters (cond_stage_config.params).",
  type: 'object',
  additionalProperties: false,
  required: ['n_classes', 'embed_dim'],
  properties: {
    n_classes: { type: 'integer', minimum: 1, description: 'Number of labels, the unconditional one included (1001 for the ImageNet models).' },
    embed_dim: { type: 'integer', minimum: 1, description: 'Width of the context vector (the UNet\'s context_dim).' },
    key: { type: 'string', default: 'class', description: 'Batch key the reference reads labels from (kept for round trips; labels are passed directly here).' },
  },
};

export interface ClassEmbedderConfig {
  n_classes: number;
  embed_dim: number;
  key: string;
}

// An LDM YAML's class-embedder settings (src/io/ldm-model-params.ts) are this form; a build error here means they drifted.
true satisfies SameShape<LdmClassEmbedderParams, ClassEmbedderConfig>;

/** Prefix of the embedder's weights in a full latent-diffusion state dict. */
export const LDM_COND_STAGE_PREFIX = 'cond_stage_model.';

export class ClassEmbedder extends ParameterizedModel {
  readonly kind = 'class embedder';
  readonly config: Readonly<ClassEmbedderConfig>;
  private readonly embedding: Embedding;

  constructor(config: Partial<ClassEmbedderConfig> & { n_classes: number; embed_dim: number }, options: { seed?: number; allocate?: boolean } = {}) {
    const cfg = applySchema<ClassEmbedderConfig>('class embedder config', classEmbedderConfigSchema, config);
    const store = new ParamStore(options.allocate ?? true, options.seed ?? 0);
    super(store);
    this.config = Object.freeze(cfg);
    this.embedding = new Embedding(store, 'embedding', cfg.n_classes, cfg.embed_dim);
  }

  /** labels [B] (int) → context [B, 1, embed_dim]. Labels outside [0, n_classes) are a ModelError. */
  embed(labels: tf.Tensor1D): tf.Tensor3D {
    this.assertUsable();
    if (labels.rank !== 1) throw new ModelError(`class embedder: labels must be [B], found [${labels.shape.join(', ')}]`);
    const values = labels.dataSync();
    const bad = Array.from(values).find((v) => !Number.isInteger(v) || v < 0 || v >= this.config.n_classes);
    if (bad !== undefined) {
      throw new ModelError(`class embedder: label ${bad} is outside 0 … ${this.config.n_classes - 1}`);
    }
    return tf.tidy(() => tf.expandDims(this.embedding.apply(labels), 1) as tf.Tensor3D);
  }
}
