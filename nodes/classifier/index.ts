/** `classifier`: the embedded default's evaluation classifier (src/models/classifier.ts). */
import type { JsonSchema } from '../../src/registry/types';
import { Classifier, classifierConfigSchema, type ClassifierConfig } from '../../src/models/classifier';
import { modelSourceNode, modelSourceSchema } from '../../src/stage-engine/model-source';
import schema from './schema.json';

export function classifierNodeConfigSchema(): JsonSchema {
  const { title: _t, ...rest } = classifierConfigSchema;
  return modelSourceSchema('classifier node config', 'The small image classifier (evaluation: accuracy and FID features)', rest);
}

export const classifierNode = modelSourceNode('classifier', 'The small image classifier (logits; penultimate features for FID) from a config or a model file',
  'classifier', schema as JsonSchema, (config, seed) => new Classifier(config as Partial<ClassifierConfig>, { seed }),
  (m) => `classifier: ${m.numParameters} parameters, ${m.config.num_classes} classes, ${m.config.feature_dim}-d features`);
