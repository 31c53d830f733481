/** `ddim-sampling` config: written once here; schema.json, the README table and `distillery nodes` are generated from it. */
import { NodeConfig, Type, type Static } from '../../src/schema/typebox';

export const configSchema = NodeConfig('ddim-sampling node config', 'DDIM samples of a model as PNG grids (rows = classes).', {
  steps: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [64, 8, 4, 2, 1], description: 'Step counts to sample at (one grid each).' }),
  guidanceScale: Type.Number({ minimum: 1, default: 1, description: 'Guidance scale g (1 = none, e.g. for distilled students). For a w-conditioned model, w = g − 1.' }),
  guidanceRescale: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'Guidance rescale φ (Lin et al.): p̂ ← φ·p̂·std(p̂_c)/std(p̂) + (1 − φ)·p̂; used only with guidance (0 = none).' }),
  eta: Type.Number({ minimum: 0, maximum: 1, default: 0, description: 'DDIM eta: 0 is deterministic DDIM; > 0 adds the DDIM variance with noise from the same fixed seed.' }),
  baseSteps: Type.Optional(Type.Integer({ minimum: 1, description: 'Sample the N-step sub-sequence of this K-step schedule (how stage-two students sample); absent: the schedule\'s own N-step DDIM timesteps.' })),
  classes: Type.Integer({ minimum: 1, default: 10, description: 'Classes 0 … classes−1, one grid row each (unless labels is given).' }),
  labels: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, description: 'An explicit list of labels, one grid row each, in this order (e.g. [207, 360, 387] for ImageNet classes, or the null class for unconditional samples); replaces classes.' })),
  samplesPerClass: Type.Integer({ minimum: 1, default: 10, description: 'Samples per label (grid columns).' }),
  latentShape: Type.Unsafe<[number, number, number]>(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 3, maxItems: 3, description: '[H, W, C] of one latent (e.g. [8, 8, 4] for the MNIST autoencoder).' })),
  batchSize: Type.Integer({ minimum: 1, default: 100, description: 'Samples per sampler call.' }),
  name: Type.String({ pattern: '^[A-Za-z0-9_-]+$', default: 'samples', description: 'File-name prefix: <name>-<steps>steps.png.' }),
  seed: Type.Optional(Type.Integer({ minimum: 0, description: 'Seed of the initial noise (default: the node\'s seed).' })),
  saveImages: Type.Boolean({ default: false, description: 'Also write the decoded images as <name>-<steps>steps.safetensors (`images` [N, C, H, W] F32, `labels` [N] I64).' }),
});

/** The resolved config (schema defaults filled in). */
export type DdimSamplingConfig = Static<typeof configSchema>;
