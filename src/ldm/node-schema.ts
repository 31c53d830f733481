/** The config schema the ldm-* node types share: the imported model folder. */
import type { JsonSchema } from '../registry/types';

export interface LdmModelNodeConfig {
  /** The folder `distillery import ldm --out` wrote. */
  model: string;
}

/** ldm-unet's config: the folder, and optionally the weights of a later training stage. */
export interface LdmUNetNodeConfig extends LdmModelNodeConfig {
  weights?: string;
}

export function ldmModelNodeConfigSchema(title: string, what: string, extra: Record<string, unknown> = {}): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title,
    description: `${what} from a model folder written by "distillery import ldm".`,
    type: 'object',
    additionalProperties: false,
    required: ['model'],
    properties: {
      model: {
        type: 'string',
        minLength: 1,
        description: 'The imported model folder (holds model.json, unet.safetensors, first-stage.safetensors, class-embedder.safetensors, scheduler_config.json); relative paths are resolved from the working directory.',
      },
      ...extra,
    },
  };
}
