/**
 * Node types that only tests register: sources of the tiny models of test/helpers/tiny.ts, so that
 * whole pipeline graphs run in seconds.
 */
import { defineNodeType } from '../../src/registry/types';
import { flatScorer, perturbWeights, tinyUNet } from './tiny';

export const testTinyUNetNode = defineNodeType<{ predictionType: 'epsilon' | 'v_prediction'; seed: number }>({
  type: 'test-tiny-unet',
  description: 'A 10k-parameter UNet on 4×4×2 latents (3 classes + null class 3), weights perturbed from their init',
  configSchema: {
    type: 'object', additionalProperties: false,
    properties: {
      predictionType: { enum: ['epsilon', 'v_prediction'], default: 'epsilon', description: 'What the output means.' },
      seed: { type: 'integer', default: 1, description: 'Initialisation seed.' },
    },
  },
  inputs: {},
  outputs: { model: { kind: 'resource', type: 'model', description: 'The UNet.' } },
  create(ctx) {
    const model = perturbWeights(tinyUNet(ctx.config.predictionType, ctx.config.seed), ctx.config.seed);
    return { resources: { model }, dispose: () => model.dispose() };
  },
});

export const testFlatScorerNode = defineNodeType<Record<string, never>>({
  type: 'test-flat-scorer',
  description: 'Classifier stand-in: features = the flattened image, logits = its first 3 values',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  inputs: {},
  outputs: { classifier: { kind: 'resource', type: 'model', description: 'logits/features.' } },
  create() {
    return { resources: { classifier: flatScorer } };
  },
});
