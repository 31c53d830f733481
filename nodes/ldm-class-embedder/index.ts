/** `ldm-class-embedder`: the ClassEmbedder of an imported latent-diffusion model (labels → [B, 1, D] context). */
import * as path from 'node:path';
import { defineNodeType } from '../../src/registry/types';
import { loadLdmClassEmbedder } from '../../src/ldm/model-folder';
import { type LdmModelNodeConfig } from '../../src/ldm/node-schema';
import { configSchema } from './config';

export const CLASS_EMBEDDER_PORT_TYPE = 'class-embedder';

export const ldmClassEmbedderNode = defineNodeType<LdmModelNodeConfig>({
  type: 'ldm-class-embedder',
  description: 'The class embedder (labels → cross-attention context [B, 1, D]) of a model imported with "distillery import ldm"',
  configSchema,
  inputs: {},
  outputs: {
    classEmbedder: { kind: 'resource', type: CLASS_EMBEDDER_PORT_TYPE, description: 'A ClassEmbedder (src/models/class-embedder.ts): embed(labels [B]) → [B, 1, embed_dim].' },
  },
  async create(ctx) {
    const embedder = await loadLdmClassEmbedder(path.resolve(ctx.config.model));
    ctx.log.info(`ldm-class-embedder: ${embedder.config.n_classes} classes × ${embedder.config.embed_dim}`);
    return { resources: { classEmbedder: embedder }, dispose: () => embedder.dispose() };
  },
});
